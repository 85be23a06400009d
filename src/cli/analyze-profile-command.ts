/** `kiln analyze-profile trace.json`: the critical path and the slowest steps of a --profile trace. */
import { readFileSync } from "node:fs";
import { inputError } from "../errors.js";
import { analyzeProfile, formatAnalysis } from "../profile/analyze-profile.js";
import { traceFileSchema } from "../profile/trace-schema.js";

export async function runAnalyzeProfile(file: string, options: { json?: boolean }): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw inputError(`cannot read the profile ${file}: ${(error as Error).message} (write one with kiln build --profile ${file})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw inputError(`${file} is not JSON (${(error as Error).message}); a profile comes from kiln build --profile ${file}`);
  }
  const parsed = traceFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw inputError(`${file} is not a trace-event profile: at ${issue.path.join(".") || "the top"}: ${issue.message}`);
  }
  const analysis = analyzeProfile(parsed.data);
  if (options.json) process.stdout.write(`${JSON.stringify(analysis)}\n`);
  else process.stdout.write(`${formatAnalysis(analysis).join("\n")}\n`);
  return 0;
}
