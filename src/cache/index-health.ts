/**
 * Keeping the local cache's LMDB index usable whatever state a crash, a full disk or a stray
 * `dd` left it in. LMDB trusts its file: a zeroed page can make a read segfault, a truncated file
 * raise SIGBUS, random bytes throw MDB_CORRUPTED, and none of that can be caught in the process
 * that reads. So an index that may be damaged is first walked in a child process, where a crash
 * kills only the child, and a bad one is moved aside (blobs stay: they are verified by digest on
 * use). The healthy case spawns nothing:
 *   - a process that opens the index leaves a marker `index.lmdb.open-<pid>-<start>` beside it,
 *     removed when it closes the index cleanly;
 *   - the last process to close cleanly records the index file's stat in `index.lmdb.clean`.
 * Doubt, and so a check, comes from a marker of a dead process (a crash, `kill -9`, a segfault
 * on a damaged page) or, when no live process has the index open, an index whose stat differs
 * from the clean record (someone else wrote it, or it was never closed cleanly by this kiln).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeError } from "../errors.js";

export const INDEX_FILE = "index.lmdb";
const MARKER_PREFIX = `${INDEX_FILE}.open-`;
const CLEAN_RECORD = `${INDEX_FILE}.clean`;
const BAD_PREFIX = `${INDEX_FILE}.bad-`;
/** The slowest healthy walk allowed, beyond a floor: 10 s plus 1 s per 64 MiB of index. */
const CHECK_TIMEOUT_FLOOR_MS = 10_000;
const CHECK_MS_PER_BYTE = 1000 / (64 * 1024 * 1024);

/** This process as a marker names it: pid and start time (so a reused pid is not taken for us). */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime), counted after the command name, which may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

let ownStart: string | undefined;
function ownMarkerName(): string {
  ownStart ??= processStart(process.pid) ?? "0";
  return `${MARKER_PREFIX}${process.pid}-${ownStart}`;
}

function markerAlive(name: string): boolean {
  const match = /^(\d+)-(\d+)$/.exec(name.slice(MARKER_PREFIX.length));
  if (!match) return false;
  const pid = Number(match[1]);
  if (pid === process.pid) return match[2] === (ownStart ?? processStart(pid) ?? "0");
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, another user's.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const start = processStart(pid);
  return start === undefined || match[2] === "0" || start === match[2];
}

interface StatRecord {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

function statRecord(path: string): StatRecord | undefined {
  try {
    const stats = statSync(path);
    return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino };
  } catch {
    return undefined;
  }
}

function sameStat(a: StatRecord, b: StatRecord): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

export type CheckResult = { ok: true; entries: number; ms: number } | { ok: false; reason: string; ms: number };

/**
 * The child: opens the index read-only and reads every entry, checking the shape of each action
 * result and that it found as many entries as LMDB counts; prints one JSON line. A damaged page kills it (SIGSEGV, SIGBUS, an LMDB assertion's
 * abort) or makes it throw; either way the parent learns the index is bad.
 */
const CHECK_SOURCE = `
const [lmdbEntry, path] = process.argv.slice(1);
const hex = /^[0-9a-f]{64}$/;
const validResult = (v) => v !== null && typeof v === "object" && Array.isArray(v.outputs) &&
  v.outputs.every((o) => o !== null && typeof o === "object" && typeof o.name === "string" && o.name.length > 0 &&
    typeof o.digest === "string" && hex.test(o.digest) && typeof o.size === "number") && typeof v.ms === "number";
try {
  const { open } = require(lmdbEntry);
  const db = open({ path, compression: false, readOnly: true });
  let entries = 0;
  for (const { key, value } of db.getRange({})) {
    entries++;
    if (typeof key !== "string") continue;
    if (key.startsWith("ac/") && !validResult(value)) throw new Error("a malformed action result at " + key);
    if (key.startsWith("in/") && (value === null || typeof value !== "object")) throw new Error("malformed ingredients at " + key);
  }
  // A damaged branch page can end a cursor walk early without an error: count against LMDB's own.
  const stats = db.getStats();
  if (stats.entryCount !== entries) throw new Error("walking it found " + entries + " of its " + stats.entryCount + " entries");
  const size = require("node:fs").statSync(path).size;
  if (size < (stats.lastPageNumber + 1) * stats.pageSize) throw new Error("the file is shorter than its last page");
  db.close();
  process.stdout.write(JSON.stringify({ ok: true, entries }) + "\\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, reason: String(error && error.message || error).split("\\n")[0] }) + "\\n");
  process.exitCode = 3;
}
`;

/** Walks the index in a child process (see CHECK_SOURCE). */
export function checkIndexInChild(indexPath: string, lmdbEntry: string): CheckResult {
  const started = performance.now();
  const size = statRecord(indexPath)?.size ?? 0;
  const run = spawnSync(process.execPath, ["-e", CHECK_SOURCE, lmdbEntry, indexPath], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: Math.round(CHECK_TIMEOUT_FLOOR_MS + size * CHECK_MS_PER_BYTE),
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  const ms = performance.now() - started;
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === "ETIMEDOUT" ? "walking it did not finish in time" : `the check could not run (${describeError(run.error)})`, ms };
  }
  if (run.signal) return { ok: false, reason: `reading it crashed the check (${run.signal})`, ms };
  let answer: { ok: boolean; entries?: number; reason?: string } | undefined;
  try {
    answer = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "") as typeof answer;
  } catch {
    answer = undefined;
  }
  if (run.status === 0 && answer?.ok) return { ok: true, entries: answer.entries ?? 0, ms };
  const lmdbSays = run.stderr.split("\n").find((line) => /Assertion|MDB_|error/i.test(line));
  return { ok: false, reason: answer?.reason ?? lmdbSays?.trim() ?? `the check exited with code ${run.status}`, ms };
}

/**
 * Renames a bad index to `index.lmdb.bad-<time>` (keeping only the newest such copy, for a post
 * mortem) and drops its lock file and clean record; the next opening starts a fresh index.
 * Returns the new name, or undefined if the index was already gone.
 */
export function moveIndexAside(dir: string): string | undefined {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const aside = `${BAD_PREFIX}${stamp}`;
  try {
    renameSync(join(dir, INDEX_FILE), join(dir, aside));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  for (const name of readdirSync(dir)) {
    if (name.startsWith(BAD_PREFIX) && name !== aside) rmSync(join(dir, name), { recursive: true, force: true });
  }
  rmSync(join(dir, `${INDEX_FILE}-lock`), { force: true });
  rmSync(join(dir, CLEAN_RECORD), { force: true });
  return aside;
}

export interface IndexOpening {
  /** This process's marker, to remove on a clean close. */
  marker: string;
  /** Set when the index was found damaged and moved aside (say so once). */
  movedAside?: { aside: string; reason: string };
  /** Set when a child checked the index. */
  check?: CheckResult;
}

/**
 * Before this process opens the index: drops markers of dead processes, checks the index in a
 * child when in doubt (see the file comment), moves a bad one aside, and leaves this process's
 * marker. Throws the environment's error if the cache dir cannot be written.
 */
export function prepareIndex(dir: string, lmdbEntry: string): IndexOpening {
  const indexPath = join(dir, INDEX_FILE);
  let dead = 0;
  let live = 0;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(MARKER_PREFIX)) continue;
    if (markerAlive(name)) live++;
    else {
      dead++;
      rmSync(join(dir, name), { force: true });
    }
  }
  const marker = ownMarkerName();
  const opening: IndexOpening = { marker };
  const current = statRecord(indexPath);
  let doubt = current !== undefined && dead > 0;
  if (current && !doubt && live === 0) {
    let clean: StatRecord | undefined;
    try {
      clean = JSON.parse(readFileSync(join(dir, CLEAN_RECORD), "utf8")) as StatRecord;
    } catch {
      clean = undefined;
    }
    doubt = !clean || !sameStat(clean, current);
  }
  if (doubt) {
    const check = checkIndexInChild(indexPath, lmdbEntry);
    opening.check = check;
    if (!check.ok) {
      const aside = moveIndexAside(dir);
      if (aside) opening.movedAside = { aside, reason: check.reason };
    }
  }
  writeFileSync(join(dir, marker), `${process.pid}\n`);
  return opening;
}

/**
 * After this process closed the index cleanly: records the index's stat (unless another process
 * still has it open, the last to close records it; or this process found it `trusted` no more)
 * and removes this process's marker.
 */
export function finishIndex(dir: string, marker: string, trusted: boolean): void {
  const othersOpen = trusted && readdirSync(dir).some((name) => name.startsWith(MARKER_PREFIX) && name !== marker && markerAlive(name));
  const current = trusted && !othersOpen ? statRecord(join(dir, INDEX_FILE)) : undefined;
  if (current) {
    const temp = join(dir, `${CLEAN_RECORD}.${process.pid}`);
    writeFileSync(temp, JSON.stringify(current));
    renameSync(temp, join(dir, CLEAN_RECORD));
  }
  if (!trusted) rmSync(join(dir, CLEAN_RECORD), { force: true });
  unlinkSync(join(dir, marker));
}
