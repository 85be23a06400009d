/**
 * What a kiln client and its workspace's server say over the Unix socket: one JSON message a
 * line, both ways. The client sends one request (a build, a status question or a stop) and, while
 * its build runs, the signals it gets; the server answers with the build's stdout and stderr text
 * and then its exit code. Pure: framing and shapes, no sockets.
 */
import { StringDecoder } from "node:string_decoder";
import type { BuildCommandOptions } from "../cli/build-command.js";

/** What a terminal stream is, as far as the reporter asks. */
export interface StreamShape {
  isTTY: boolean;
  columns?: number;
}

export interface BuildMessage {
  type: "build";
  /** kilnBuildId() of the client: a server of another build refuses it. */
  build: string;
  root: string;
  mode: "build" | "test";
  patterns: string[];
  /** With paths made absolute by the client (--cache-dir, --profile). */
  options: BuildCommandOptions;
  cwd: string;
  env: Record<string, string>;
  stdout: StreamShape;
  stderr: StreamShape;
}

export type ClientMessage =
  | BuildMessage
  | { type: "signal"; signal: string }
  | { type: "status" }
  | { type: "stop" };

export interface ServerStatus {
  type: "status";
  pid: number;
  root: string;
  build: string;
  startedAt: string;
  idleTimeoutMs: number;
  builds: number;
  busy: boolean;
  rssBytes: number;
}

export type ServerMessage =
  | { type: "out"; text: string }
  | { type: "err"; text: string }
  | { type: "exit"; code: number }
  /** Not built here: another kiln build or another workspace; the client builds in its own process. */
  | { type: "refused"; reason: string }
  | ServerStatus
  | { type: "stopping" };

export function encodeMessage(message: ClientMessage | ServerMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Feeds socket data in, calls `onMessage` for each whole line. A line that is not JSON is a
 * protocol error (`onError`), after which the rest of the stream is ignored.
 */
export function messageReader<T>(onMessage: (message: T) => void, onError: (error: Error) => void): (chunk: Buffer | string) => void {
  let pending = "";
  let broken = false;
  // A character whose bytes two chunks split stays whole.
  const decoder = new StringDecoder("utf8");
  return (chunk) => {
    if (broken) return;
    pending += typeof chunk === "string" ? chunk : decoder.write(chunk);
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line === "") continue;
      let message: T;
      try {
        message = JSON.parse(line) as T;
      } catch {
        broken = true;
        onError(new Error(`not a kiln server message: ${line.slice(0, 80)}`));
        return;
      }
      onMessage(message);
    }
  };
}
