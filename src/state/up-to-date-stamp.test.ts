import { basename } from "node:path";
import { describe, expect, it } from "vitest";
import { stampFile } from "./up-to-date-stamp.js";

describe("stampFile", () => {
  it("names a request's stamp by a stable 14-digit hash, different for different requests", () => {
    const request = JSON.stringify({ root: "/ws", mode: "build", patterns: ['{"kind":"recursive","pkg":""}'] });
    const name = basename(stampFile("/ws/.kiln", request));
    expect(name).toMatch(/^[0-9a-f]{14}\.stamp$/);
    expect(basename(stampFile("/ws/.kiln", request))).toBe(name);
    const names = new Set<string>();
    for (let i = 0; i < 2000; i++) names.add(basename(stampFile("/ws/.kiln", `${request}${i}`)));
    names.add(name);
    expect(names.size).toBe(2001);
  });
});
