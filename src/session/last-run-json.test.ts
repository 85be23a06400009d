import { describe, expect, it } from "vitest";
import { lastRunJson, type LastRun } from "./workspace-session.js";

describe("lastRunJson", () => {
  it("is JSON.stringify of the LastRun with its steps as an object", () => {
    const head = { invocationId: "id", startedOn: "2026-12-03T00:00:00.000Z", finishedOn: "2026-12-03T00:00:01.000Z" };
    const run = new Map<string, LastRun["steps"][string]>([
      ["//b:y", { key: "k2", status: "cached" }],
      ["//a:x", { key: "k1", status: "executed" }],
      ["//:root \"quoted\"", { key: "k3", status: "cached" }],
    ]);
    expect(lastRunJson(head, run)).toBe(JSON.stringify({ ...head, steps: Object.fromEntries(run) }));
    expect(lastRunJson(head, new Map())).toBe(JSON.stringify({ ...head, steps: {} }));
  });
});
