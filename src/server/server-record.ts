/**
 * How a `kiln build` finds the kiln server of its workspace: `.kiln/server.json`, written by the
 * server once it listens and removed when it stops. The client reads it before anything else; no
 * record, no server (one failed open, ~20 µs, on every build without one).
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { KILN_ROOT, KILN_VERSION } from "../kiln-install.js";
import { writeFileAtomic } from "../state/atomic-file.js";

export const SERVER_RECORD_FILE = "server.json";
export const SERVER_LOG_FILE = "server.log";

export interface ServerRecord {
  pid: number;
  /** The Unix socket it listens on. */
  socket: string;
  /** kilnBuildId() of the kiln it runs: a client of another build does not use it. */
  build: string;
  root: string;
  startedAt: string;
  /** How long it waits for a build before it ends itself. */
  idleTimeoutMs: number;
}

export function serverRecordFile(stateDir: string): string {
  return join(stateDir, SERVER_RECORD_FILE);
}

/** The record, or undefined when there is none or it is not one (a torn or foreign file). */
export function readServerRecord(stateDir: string): ServerRecord | undefined {
  let record: Partial<ServerRecord>;
  try {
    record = JSON.parse(readFileSync(serverRecordFile(stateDir), "utf8"));
  } catch {
    return undefined;
  }
  const valid = typeof record.pid === "number" && typeof record.socket === "string" && typeof record.build === "string" && typeof record.root === "string";
  return valid ? (record as ServerRecord) : undefined;
}

export function writeServerRecord(stateDir: string, record: ServerRecord): void {
  writeFileAtomic(serverRecordFile(stateDir), `${JSON.stringify(record, null, 2)}\n`);
}

/** Removes the record if it is still this server's (a successor may have written its own). */
export function removeServerRecord(stateDir: string, pid: number): void {
  if (readServerRecord(stateDir)?.pid === pid) rmSync(serverRecordFile(stateDir), { force: true });
}

/**
 * Which kiln this is: the version and the built CLI bundle's size and mtime, so that a server
 * started before `npm run build` (or an upgrade) is not handed builds by the new kiln.
 */
export function kilnBuildId(): string {
  try {
    const bundle = statSync(join(KILN_ROOT, "dist/cli/kiln.cjs"));
    return `${KILN_VERSION}+${bundle.size}.${Math.round(bundle.mtimeMs)}`;
  } catch {
    return `${KILN_VERSION}+unbundled`;
  }
}
