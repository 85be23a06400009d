/**
 * What a step left in its $OUT, read before anything of it enters the store. Outputs are regular
 * files or directories of them: a symbolic link would be cached and materialized as a pointer to
 * whatever its target holds on the machine that reads it (`ln -s /etc/passwd $OUT/o.txt` handed
 * the host's file to every dependant, and the store's chmod followed the link to it), and a
 * socket, FIFO or device has no content to cache. One listing answers both what was written and
 * what may not be; it never follows a link.
 */
import { lstatSync, readdirSync, readlinkSync, type Dirent } from "node:fs";
import { join, relative, sep } from "node:path";

/** An entry of $OUT that is not a regular file or a directory. */
export interface IrregularOutput {
  /** Relative to $OUT, POSIX separators. */
  name: string;
  /** "a symbolic link to /etc/passwd", "a FIFO (named pipe)", ... */
  kind: string;
}

export interface OutputListing {
  /** Regular files, relative to $OUT, POSIX separators, sorted. */
  files: string[];
  /** Everything else but directories, sorted by name. */
  irregular: IrregularOutput[];
}

/**
 * Lists `<sandboxDir>/<outRelative>` without following links (a recursive readdir does not
 * descend into a link to a directory: it is listed as the link it is). $OUT itself, or a
 * directory on the way to it, replaced by something else (a link to /etc...) is reported as the
 * entry "." and nothing under it is listed: kiln would otherwise read, chmod and link files
 * outside the sandbox.
 */
export function listOutputs(sandboxDir: string, outRelative: string): OutputListing {
  const parts = outRelative.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const relativePath = parts.slice(0, i).join("/");
    const path = join(sandboxDir, relativePath);
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (!stats) return { files: [], irregular: [] };
    if (stats.isDirectory()) continue;
    const kind = describeKind(stats, path);
    return { files: [], irregular: [{ name: ".", kind: i === parts.length ? kind : `not a directory: ${relativePath} is ${kind}` }] };
  }
  const outDir = join(sandboxDir, outRelative);
  const files: string[] = [];
  const irregular: IrregularOutput[] = [];
  for (const entry of readdirSync(outDir, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(outDir, path).split(sep).join("/");
    if (entry.isFile()) files.push(name);
    else irregular.push({ name, kind: describeKind(entry, path) });
  }
  files.sort();
  irregular.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, irregular };
}

function describeKind(entry: Pick<Dirent, "isSymbolicLink" | "isFIFO" | "isSocket" | "isBlockDevice" | "isCharacterDevice" | "isFile">, path: string): string {
  if (entry.isSymbolicLink()) {
    let target = "";
    try {
      target = ` (to ${readlinkSync(path)})`;
    } catch {
      // removed meanwhile: the kind is still right
    }
    return `a symbolic link${target}`;
  }
  if (entry.isFIFO()) return "a FIFO (named pipe)";
  if (entry.isSocket()) return "a socket";
  if (entry.isBlockDevice() || entry.isCharacterDevice()) return "a device file";
  if (entry.isFile()) return "a regular file";
  return "not a regular file";
}
