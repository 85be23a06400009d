/**
 * `kiln metrics diff <label> [A] [B]`: the metrics files a target declares (`metrics` on a step),
 * compared between two builds of it, as DVC's `metrics diff`. A and B each name a build: `last`
 * (this workspace's last build of the target), `previous` (the key it had before that build ran),
 * or a release (a version or full name, in dist/ or `--out`). Default: previous -> last.
 * Builds are read from the cache (the metrics files are blobs there), releases from their directory.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Json } from "../api/action-spec.js";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { inputError } from "../errors.js";
import { outputDir } from "../graph/action-graph.js";
import { diffMetrics } from "../lock/metrics-diff.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { parseLabel } from "../workspace/label.js";
import { findRelease, readReleaseMetrics } from "./release-command.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";

interface MetricsOptions {
  workspace?: string;
  cacheDir?: string;
  out?: string;
}

/** One side of the diff: what it is called and each metrics file's parsed content by path. */
interface MetricsSide {
  title: string;
  read: (path: string) => Json | undefined;
  files: string[];
}

export async function runMetricsDiff(labelText: string, which: string[], options: MetricsOptions): Promise<number> {
  if (which.length > 2) throw inputError(`kiln metrics diff takes a label and at most two builds (last, previous, or a release), not ${which.length}`);
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const [pattern] = parsePatterns([labelText], currentPackage(session.root, process.cwd()));
  if (pattern?.kind !== "label") throw inputError(`kiln metrics diff takes one label (//pkg:name), not the pattern ${labelText}`);
  const label = pattern.label;
  const { graph } = await session.load([pattern]);
  const { pkg, name } = parseLabel(label);
  const outDir = outputDir(pkg, name);
  const declared = (graph.targets.get(label)?.spec.metrics ?? []).map((m) => `${outDir}/${m}`);
  const noMetrics = () => inputError(`${label} declares no metrics (metrics: ["metrics.json"] on the step names the outputs that hold them)`);
  // Builds are read by the metrics BUILD.ts declares now; only releases carry their own list.
  if (declared.length === 0 && which.every((w) => w === "last" || w === "previous")) throw noMetrics();
  const releases = options.out ? resolve(options.out) : join(session.root, "dist");
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  try {
    const last = session.lastResults.get(label)?.key;
    const fromBuild = (key: string | undefined, title: string): MetricsSide => {
      const result = key ? store.getAction(key) : undefined;
      if (!key || !result) {
        throw inputError(
          title === "last"
            ? `${label} has not been built in this workspace yet (run kiln build ${label})`
            : `${label}: the ${title} build is not in the cache${key ? ` (key ${key.slice(0, 12)})` : " (the last build did not replace an earlier one)"}`,
        );
      }
      const blobs = new Map(result.outputs.map((o) => [`${outDir}/${o.name}`, store.blobPath(o.digest)]));
      return {
        title: `${title} (${key.slice(0, 12)})`,
        files: declared,
        read: (path) => {
          const blob = blobs.get(path);
          try {
            return blob ? (JSON.parse(readFileSync(blob, "utf8")) as Json) : undefined;
          } catch {
            return undefined;
          }
        },
      };
    };
    const side = (text: string): MetricsSide => {
      if (text === "last") return fromBuild(last, "last");
      if (text === "previous") return fromBuild(last ? store.getAction(last)?.previousKey : undefined, "previous");
      const release = findRelease(releases, text, label);
      return { title: release.manifest.name, files: release.manifest.metrics ?? [], read: (path) => readReleaseMetrics(release, path) };
    };
    const [a, b] = [side(which[0] ?? "previous"), side(which[1] ?? "last")];
    const files = [...new Set([...a.files, ...b.files])].sort();
    if (files.length === 0) throw noMetrics();
    const lines = files.flatMap((file) => diffMetrics(file, a.read(file), b.read(file)));
    process.stdout.write(`${label}: ${a.title} -> ${b.title}:\n`);
    process.stdout.write(lines.length > 0 ? `${lines.map((l) => `  ${l}`).join("\n")}\n` : `  the same metrics (${files.join(", ")})\n`);
    return 0;
  } finally {
    await store.close();
  }
}
