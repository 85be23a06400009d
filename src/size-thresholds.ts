/**
 * Every file size at which kiln's engine changes how it handles a file, in one place: the
 * randomized differential test (test/e2e/differential.test.ts) generates sources on both sides of
 * each, so a threshold that moves keeps being tested where it now is.
 */

/** Sources up to this size may be written over a spare file of a reused sandbox (read whole into memory). */
export const SPARE_REUSE_SIZE = 1 << 20;

/** Digests: files up to this size are read whole and hashed in one call; larger ones are streamed. */
export const WHOLE_READ_LIMIT = 8 << 20;

/** Inputs larger than this are hard-linked into sandboxes instead of copied. */
export const SHARED_INPUT_SIZE = 64 << 20;

/** The up-to-date stamp re-hashes files up to this size when only their stat changed; larger ones take the normal path. */
export const REHASH_LIMIT = 64 << 20;

/** All of them, for tests that must straddle each. */
export const SIZE_THRESHOLDS: readonly number[] = [SPARE_REUSE_SIZE, WHOLE_READ_LIMIT, SHARED_INPUT_SIZE, REHASH_LIMIT];
