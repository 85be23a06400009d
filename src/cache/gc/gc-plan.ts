/**
 * What `kiln cache gc` removes, decided from an inventory of the cache: pure data in, a plan out,
 * no file system or LMDB here (gc.ts does the I/O).
 * Invariants the plan keeps:
 *   - a blob a kept result refers to is kept (results go first, then the blobs nobody refers to);
 *   - whatever a release pins (its results, their blobs, blobs it names) is kept;
 *   - nothing used or written within `graceMs` is removed, so a build running beside gc keeps
 *     the blobs it is inserting and the results it just stored or hit;
 *   - least recently used first: results by their last use, loose blobs by their last touch.
 * Size is what removing frees: a blob also hard-linked elsewhere (into a kiln-out or a parked
 * sandbox) costs the disk nothing more, so it is not counted against the cap and a result whose
 * every blob is linked elsewhere is not removed to make room (removing it would free nothing).
 */

export interface ResultEntry {
  key: string;
  /** Milliseconds since the epoch: the last lookup that hit it, else when it was stored. */
  lastUsed: number;
  /** Digests of the blobs it needs: its outputs and log (and its ingredients blob, if any). */
  blobs: readonly string[];
}

export interface BlobEntry {
  digest: string;
  size: number;
  /** The latest of its mtime, ctime and atime: when it was last written, linked or read. */
  lastTouched: number;
  /** Hard-linked elsewhere too (st_nlink > 1): removing it from the cache frees nothing. */
  linkedElsewhere: boolean;
}

export interface GcRequest {
  results: readonly ResultEntry[];
  blobs: readonly BlobEntry[];
  pinnedKeys: ReadonlySet<string>;
  pinnedBlobs: ReadonlySet<string>;
  /** Bytes of the index and anything else gc cannot shrink; counted in the size. */
  fixedBytes: number;
  now: number;
  /** Trim until the cache holds at most this many bytes. */
  maxBytes?: number;
  /** Also remove whatever was last used longer ago than this. */
  olderThanMs?: number;
  graceMs: number;
}

export interface GcPlan {
  removeKeys: string[];
  removeBlobs: string[];
  /** What the cache held before, and will hold after, in the plan's sense of size. */
  bytesBefore: number;
  bytesAfter: number;
  /** Results kept because a release pins them, for the report. */
  pinnedKept: number;
}

type Candidate = { kind: "result"; entry: ResultEntry; at: number } | { kind: "blob"; entry: BlobEntry; at: number };

export function planGc(request: GcRequest): GcPlan {
  const { now, graceMs } = request;
  const blobByDigest = new Map(request.blobs.map((blob) => [blob.digest, blob]));
  const references = new Map<string, number>();
  for (const result of request.results) for (const digest of result.blobs) references.set(digest, (references.get(digest) ?? 0) + 1);

  // Pinned results keep their blobs as if those were pinned by name.
  const pinnedBlobs = new Set(request.pinnedBlobs);
  let pinnedKept = 0;
  for (const result of request.results) {
    if (!request.pinnedKeys.has(result.key)) continue;
    pinnedKept++;
    for (const digest of result.blobs) pinnedBlobs.add(digest);
  }

  const cost = (blob: BlobEntry) => (blob.linkedElsewhere ? 0 : blob.size);
  let bytes = request.fixedBytes;
  for (const blob of request.blobs) bytes += cost(blob);
  const bytesBefore = bytes;

  const recent = (at: number) => at > now - graceMs;
  const removable = (blob: BlobEntry | undefined) => blob !== undefined && !pinnedBlobs.has(blob.digest) && !recent(blob.lastTouched);

  const candidates: Candidate[] = [];
  for (const result of request.results) {
    if (request.pinnedKeys.has(result.key) || recent(result.lastUsed)) continue;
    candidates.push({ kind: "result", entry: result, at: result.lastUsed });
  }
  for (const blob of request.blobs) {
    if ((references.get(blob.digest) ?? 0) === 0 && removable(blob)) candidates.push({ kind: "blob", entry: blob, at: blob.lastTouched });
  }
  // Oldest first; ties broken by name so the plan does not depend on listing order.
  candidates.sort((a, b) => a.at - b.at || nameOf(a).localeCompare(nameOf(b)));

  const removeKeys: string[] = [];
  const removeBlobs: string[] = [];
  const tooOld = (at: number) => request.olderThanMs !== undefined && at < now - request.olderThanMs;
  const overCap = () => request.maxBytes !== undefined && bytes > request.maxBytes;

  for (const candidate of candidates) {
    const old = tooOld(candidate.at);
    // Sorted by age: once one is not too old, none later is; and the size is under the cap.
    if (!old && !overCap()) break;
    if (candidate.kind === "blob") {
      removeBlobs.push(candidate.entry.digest);
      bytes -= cost(candidate.entry);
      continue;
    }
    const result = candidate.entry;
    // To make room, a result that frees nothing (every blob linked elsewhere) stays.
    if (!old && result.blobs.every((digest) => blobByDigest.get(digest)?.linkedElsewhere ?? true)) continue;
    removeKeys.push(result.key);
    for (const digest of result.blobs) {
      const left = (references.get(digest) ?? 1) - 1;
      references.set(digest, left);
      const blob = blobByDigest.get(digest);
      if (left === 0 && removable(blob)) {
        removeBlobs.push(digest);
        bytes -= cost(blob!);
      }
    }
  }
  return { removeKeys, removeBlobs: [...new Set(removeBlobs)], bytesBefore, bytesAfter: bytes, pinnedKept };
}

function nameOf(candidate: Candidate): string {
  return candidate.kind === "result" ? candidate.entry.key : candidate.entry.digest;
}
