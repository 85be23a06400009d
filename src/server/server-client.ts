/**
 * `kiln build` and `kiln test` as a kiln server's client: when the workspace has a server
 * (`kiln server start`), the command line hands it the build (the patterns, options, working
 * directory and environment) and prints what it sends back. bin/kiln.cjs runs this from the fast
 * path's small bundle, before the rest of kiln loads: the server keeps the graph, the stat cache
 * and the stamp in memory, so the client needs none of it.
 *
 * Any trouble reaching the server (none listening, another kiln build, a server that ends
 * mid-build) makes the command build in its own process instead, as it would with no server.
 */
import { resolve } from "node:path";
import type { BuildCommandOptions } from "../cli/build-command.js";
import { stateDirOf } from "../state/workspace-state.js";
import { encodeMessage, messageReader, type BuildMessage, type ClientMessage, type ServerMessage } from "./server-protocol.js";
import { processRunning } from "../process-alive.js";
import { kilnBuildId, readServerRecord, removeServerRecord, type ServerRecord } from "./server-record.js";

/** A build to hand to the workspace's server. */
export interface ServerCall {
  record: ServerRecord;
  stateDir: string;
  message: BuildMessage;
}

/** Options that name files, made absolute: the server's working directory is not the client's. */
function absoluteOptions(options: BuildCommandOptions, cwd: string): BuildCommandOptions {
  const absolute = { ...options };
  if (absolute.cacheDir !== undefined) absolute.cacheDir = resolve(cwd, absolute.cacheDir);
  if (absolute.profile !== undefined) absolute.profile = resolve(cwd, absolute.profile);
  if (absolute.workspace !== undefined) absolute.workspace = resolve(cwd, absolute.workspace);
  return absolute;
}

/**
 * The call to make when the workspace has a server and the command line did not opt out
 * (`--no-server`, KILN_SERVER=0); undefined otherwise.
 */
export function serverCallFor(
  root: string,
  mode: "build" | "test",
  patterns: string[],
  options: BuildCommandOptions & { server?: boolean },
): ServerCall | undefined {
  const { env } = process;
  if (options.server === false || env.KILN_SERVER === "0") return undefined;
  const stateDir = stateDirOf(root);
  const record = readServerRecord(stateDir);
  if (!record) return undefined;
  const { server: _server, ...buildOptions } = options;
  const shape = (stream: NodeJS.WriteStream) => ({ isTTY: stream.isTTY === true, columns: stream.columns });
  return {
    record,
    stateDir,
    message: {
      type: "build",
      build: kilnBuildId(),
      root,
      mode,
      patterns,
      options: absoluteOptions(buildOptions, process.cwd()),
      cwd: process.cwd(),
      env: Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
      stdout: shape(process.stdout),
      stderr: shape(process.stderr),
    },
  };
}

/**
 * Hands the build to the server and relays its output; resolves to the build's exit code, or to
 * undefined when the server could not build it (the caller then builds in this process).
 */
export async function buildOnServer(call: ServerCall): Promise<number | undefined> {
  const { connect } = await import("node:net");
  const { record } = call;
  return new Promise((done) => {
    let answered = false;
    let heard = false;
    const socket = connect(record.socket);
    const send = (message: ClientMessage) => {
      if (!socket.destroyed) socket.write(encodeMessage(message));
    };
    const onSignal = (signal: NodeJS.Signals) => send({ type: "signal", signal });
    const finish = (code: number | undefined) => {
      if (answered) return;
      answered = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      socket.destroy();
      done(code);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    socket.on("connect", () => send(call.message));
    socket.on(
      "data",
      messageReader<ServerMessage>(
        (message) => {
          heard = true;
          if (message.type === "out") process.stdout.write(message.text);
          else if (message.type === "err") process.stderr.write(message.text);
          else if (message.type === "exit") finish(message.code);
          else if (message.type === "refused") {
            process.stderr.write(`kiln: note: the kiln server (pid ${record.pid}) did not take this build: ${message.reason}; building in this process\n`);
            finish(undefined);
          }
        },
        (error) => {
          process.stderr.write(`kiln: warning: ${error.message}; building in this process\n`);
          finish(undefined);
        },
      ),
    );
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (answered) return;
      const nobodyListens = error.code === "ECONNREFUSED" || error.code === "ENOENT";
      if (!heard && !processRunning(record.pid)) {
        // A server that died without cleaning up (killed, a crash): forget it quietly.
        removeServerRecord(call.stateDir, record.pid);
      } else if (!heard && nobodyListens) {
        // The record's pid runs but nothing listens: a pid reused after a reboot (no server), or a
        // server stopping right now (its record already gone: nothing to say).
        if (readServerRecord(call.stateDir)?.pid === record.pid) {
          process.stderr.write(`kiln: note: nothing listens on the kiln server's socket (pid ${record.pid} is not it); forgetting .kiln/server.json and building in this process\n`);
          removeServerRecord(call.stateDir, record.pid);
        }
      } else {
        process.stderr.write(`kiln: warning: the kiln server (pid ${record.pid}) could not be reached (${error.code ?? error.message}); building in this process\n`);
      }
      finish(undefined);
    });
    socket.on("close", () => {
      if (answered) return;
      process.stderr.write(`kiln: warning: the kiln server (pid ${record.pid}) ended before the build did (see .kiln/server.log); building in this process\n`);
      finish(undefined);
    });
  });
}

/** One question to the server (status, stop) and its one answer; undefined when it cannot be reached. */
export async function askServer(record: ServerRecord, message: ClientMessage, timeoutMs = 5000): Promise<ServerMessage | undefined> {
  const { connect } = await import("node:net");
  return new Promise((done) => {
    const socket = connect(record.socket);
    const finish = (reply: ServerMessage | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      done(reply);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on("connect", () => socket.write(encodeMessage(message)));
    socket.on("data", messageReader<ServerMessage>((reply) => finish(reply), () => finish(undefined)));
    socket.on("error", () => finish(undefined));
    socket.on("close", () => finish(undefined));
  });
}
