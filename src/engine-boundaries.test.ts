/**
 * Keeps the engine's shape (docs/DESIGN.md "Inside"): below src/cli/, nothing exits the process,
 * installs signal handlers or hands state through globalThis (but the step runner, which is the
 * main module of a child process of its own); and no module imports itself through others
 * (value imports: `import type` is erased and does not count).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const files = sourceFiles(SRC);
const text = new Map(files.map((file) => [file, readFileSync(file, "utf8")]));

/** Value imports of `file` (static and dynamic) that are files of src/. */
function importsOf(file: string): string[] {
  const found: string[] = [];
  for (const match of text.get(file)!.matchAll(/(?:^import(?!\s+type\b)[^;]*?from\s+|import\()\s*"(\.[^"]+)"/gms)) {
    const target = resolve(dirname(file), match[1]!.replace(/\.js$/, ".ts"));
    if (text.has(target)) found.push(target);
  }
  return found;
}

describe("engine boundaries", () => {
  it("only src/cli/ exits the process, handles signals or uses globalThis", () => {
    const offending = files
      .filter((file) => !relative(SRC, file).startsWith("cli/") && relative(SRC, file) !== "exec/step-runner.ts")
      .flatMap((file) =>
        text
          .get(file)!
          .split("\n")
          .map((line, i) => ({ line, at: `${relative(SRC, file)}:${i + 1}` }))
          .filter(({ line }) => !line.trimStart().startsWith("*") && !line.trimStart().startsWith("//"))
          // String literals left out: a message may name process.exit().
          .filter(({ line }) => /process\.exit\(|process\.(on|once)\("SIG|globalThis/.test(line.replace(/`[^`]*`|"[^"]*"|'[^']*'/g, '""')))
          .map(({ at, line }) => `${at}: ${line.trim()}`),
      );
    expect(offending).toEqual([]);
  });

  it("has no import cycles", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, "visiting");
      stack.push(file);
      for (const next of importsOf(file)) {
        if (state.get(next) === "visiting") {
          cycles.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(SRC, f)).join(" -> "));
        } else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
