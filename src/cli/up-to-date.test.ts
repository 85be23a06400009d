import { describe, expect, it } from "vitest";
import { readUpToDateRequest } from "./up-to-date.js";

describe("readUpToDateRequest (the no-op fast path's own command-line reading)", () => {
  it("reads values given apart or joined", () => {
    for (const argv of [
      ["build", "//...", "-j", "2", "-C", "ws"],
      ["build", "//...", "-j2", "-Cws"],
      ["build", "//...", "--jobs=2", "--workspace=ws"],
    ]) {
      expect(readUpToDateRequest(argv), argv.join(" ")).toEqual({ mode: "build", patterns: ["//..."], options: { workspace: "ws", jobs: 2 } });
    }
    expect(readUpToDateRequest(["test", "--json", "--sandbox=dir", "//p:t"])).toEqual({ mode: "test", patterns: ["//p:t"], options: { json: true, sandbox: "dir" } });
  });

  it("keeps every build option it reads, for a kiln server's client", () => {
    const argv = ["build", "-k", "--remote-upload", "-q", "--no-server", "--cache-dir", "c", "--remote-cache=http://h:1", "//a"];
    expect(readUpToDateRequest(argv)).toEqual({
      mode: "build",
      patterns: ["//a"],
      options: { keepGoing: true, remoteUpload: true, quiet: true, server: false, cacheDir: "c", remoteCache: "http://h:1" },
    });
  });

  it("leaves to commander what it must reject or what asks for work", () => {
    for (const argv of [
      ["build", "-j0"],
      ["build", "-jx"],
      ["build", "--jobs="],
      ["build", "--sandbox=nope"],
      ["build", "--no-cache"],
      ["build", "--explain"],
      ["build", "-kj2"],
      ["build", "--json=1"],
      ["query", "//..."],
      ["build", "-C"],
    ]) {
      expect(readUpToDateRequest(argv), argv.join(" ")).toBeUndefined();
    }
  });
});
