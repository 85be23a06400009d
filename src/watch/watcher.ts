/**
 * File events behind a small interface, with chokidar 5 underneath. kiln watches directories
 * (an editor that saves by writing a temp file and renaming it over the old one replaces the
 * inode: a watch on the file alone goes deaf; the directory's watch sees the rename) and, inside
 * them, only what `ignored` lets through. `poll` is for network and container file systems where
 * inotify sees nothing.
 */
import { lstatSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import { watch, type FSWatcher } from "chokidar";

/** chokidar's kinds, and "raw": an inotify event chokidar did not turn into one (a hint only). */
export type WatchEventKind = "add" | "change" | "unlink" | "addDir" | "unlinkDir" | "raw";

export interface WatcherOptions {
  /** Directories watched recursively (what `ignored` lets through). */
  roots: readonly string[];
  /** True to skip a path; `isFile` is unknown (undefined) on a first, stat-less call. */
  ignored: (path: string, isFile: boolean | undefined) => boolean;
  poll: boolean;
  onEvent: (kind: WatchEventKind, path: string) => void;
  onError: (error: NodeJS.ErrnoException) => void;
}

export interface Watcher {
  /** Resolves once the initial scan is done: events from then on are changes. */
  ready(): Promise<void>;
  /** Watches more files or directories (absolute). */
  add(paths: readonly string[]): void;
  close(): Promise<void>;
}

/**
 * The file a raw event is about. A directory's watch names the entry; a file's own watch names
 * the file as it was called when the watch began, which after a save by rename is the temp file
 * (`g0.bin.tmp` for the watch now on `g0.bin`): that event is about the watched file, not about
 * a `g0.bin/g0.bin.tmp` below it. Taken for such a path (new to the build, so never compared by
 * content), every link kiln's sandbox made to the file raised a "change" that cancelled the step
 * making it, in a loop (found by the differential test's watch dimension).
 */
export function rawEventPath(watched: string, entry: string): string {
  if (basename(watched) === entry) return watched;
  const stats = lstatSync(watched, { throwIfNoEntry: false });
  return stats !== undefined && !stats.isDirectory() ? watched : join(watched, entry);
}

export function chokidarWatcher(options: WatcherOptions): Watcher {
  const watcher: FSWatcher = watch([...options.roots], {
    ignoreInitial: true,
    persistent: true,
    usePolling: options.poll,
    interval: 100,
    // kiln reads content after a quiet period: chokidar need not wait for writes to finish.
    awaitWriteFinish: false,
    atomic: false,
    followSymlinks: false,
    ignored: (path: string, stats?: Stats) => options.ignored(path, stats ? stats.isFile() : undefined),
  });
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  watcher.on("all", (kind, path) => options.onEvent(kind as WatchEventKind, path));
  // chokidar drops a change whose mtime did not move (an edit that put the mtime back, as
  // `cp -p` or `rsync -t` do); the raw inotify event still says the file was written. A hint
  // either way: the rebuild decides by content.
  watcher.on("raw", (event: string, entry: string, details: unknown) => {
    const watched = (details as { watchedPath?: string } | undefined)?.watchedPath;
    // "rename" too: a save by rename, caught by the directory's watch even when chokidar's own
    // bookkeeping of that file is mid-update.
    if ((event !== "change" && event !== "rename") || !entry || !watched) return;
    const path = rawEventPath(watched, entry);
    if (!options.ignored(path, true)) options.onEvent("raw", path);
  });
  watcher.on("error", (error) => options.onError(error as NodeJS.ErrnoException));
  return {
    ready: () => ready,
    add: (paths) => {
      if (paths.length > 0) watcher.add([...paths]);
    },
    close: () => watcher.close(),
  };
}
