import { describe, expect, it } from "vitest";
import { BoundedLog } from "./bounded-log.js";

describe("BoundedLog", () => {
  it("keeps a small log whole", () => {
    const log = new BoundedLog();
    for (const line of ["one", "two", "three"]) log.add(line);
    expect(log.text()).toBe("one\ntwo\nthree");
  });

  it("keeps the head and the tail of a huge log, within about a megabyte, and says how much it left out", () => {
    const log = new BoundedLog();
    const line = "x".repeat(99);
    for (let i = 0; i < 200_000; i++) log.add(i === 0 ? "first" : i === 199_999 ? "last" : line); // ~20 MB
    const text = log.text();
    expect(text.startsWith("first\n")).toBe(true);
    expect(text.endsWith("\nlast")).toBe(true);
    expect(text.length).toBeLessThan(1.1 * 1024 * 1024);
    const omitted = Number(/\[kiln: (\d+) bytes of this step's log left out\]/.exec(text)![1]);
    expect(omitted + text.length).toBeGreaterThan(19_000_000);
  });

  it("cuts a single line longer than the bound", () => {
    const log = new BoundedLog();
    log.add("a".repeat(600 * 1024));
    log.add("b".repeat(3 * 1024 * 1024));
    expect(log.text().length).toBeLessThan(1.1 * 1024 * 1024);
    expect(log.text().endsWith("b")).toBe(true);
  });
});
