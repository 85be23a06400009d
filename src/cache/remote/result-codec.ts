/**
 * kiln's action results as Remote Execution API `ActionResult` protobufs, the `/ac/` entries of
 * Bazel's HTTP cache protocol, so validating servers (bazel-remote) accept them and one server
 * holds Bazel's and kiln's entries. Mapping: each output is an OutputFile whose path is its name
 * in the target's output directory; the step's combined log is stdout_digest; timings are
 * execution_{start,completed}_timestamp; what REAPI has no field for (previous key, sandbox,
 * network, and the digest of the CAS blob holding the action's origins, which provenance walks)
 * is a kiln.remote.v1.ResultMetadata packed in an Any in auxiliary_metadata, and so is the signature. The key's ingredients need no field: the action key IS the SHA-256 of their
 * canonical encoding, so they are the CAS blob named by the key itself.
 * Pure: bytes in, bytes out; the HMAC uses node:crypto.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyIs, anyPack, anyUnpack, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { ActionResult, OutputRecord } from "../local-store.js";
import type { ContentDigest } from "../../key/digest.js";
import {
  ActionResultSchema,
  type ActionResult as RemoteActionResult,
  type Digest,
  DigestSchema,
  ExecutedActionMetadataSchema,
  OutputFileSchema,
} from "./gen/build/bazel/remote/execution/v2/remote_execution_pb.js";
import { ResultMetadataSchema, SignatureSchema } from "./gen/kiln/remote/v1/result_pb.js";

/** What `decodeResult` found wrong with an `/ac/` entry. */
export class ResultRefused extends Error {
  constructor(
    message: string,
    /** "unsigned" and "forged" need the signing key's holder to act; "malformed" is a broken entry. */
    readonly reason: "malformed" | "unsigned" | "forged",
  ) {
    super(message);
  }
}

/** A decoded result and the size of its log blob (kiln's local result does not keep it). */
export interface DecodedResult {
  result: ActionResult;
  logSize: number;
  /** The CAS blob holding the action's origins (provenance), when the uploader recorded them. */
  origins?: { digest: ContentDigest; size: number };
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Encodes a result; with a signing key, signs it (see `signature`). */
export function encodeResult(key: string, result: ActionResult, logSize: number, signingKey?: string, origins?: { digest: ContentDigest; size: number }): Uint8Array {
  const started = result.createdAt - Math.round(result.ms);
  const metadata = create(ResultMetadataSchema, {
    previousKey: result.previousKey ?? "",
    sandbox: result.sandbox ?? "",
    network: result.network === true,
    originsDigest: origins?.digest ?? "",
    originsSize: BigInt(origins?.size ?? 0),
  });
  const message = create(ActionResultSchema, {
    outputFiles: result.outputs.map((output) =>
      create(OutputFileSchema, { path: output.name, digest: digestOf(output.digest, output.size) }),
    ),
    exitCode: 0,
    executionMetadata: create(ExecutedActionMetadataSchema, {
      worker: "kiln",
      executionStartTimestamp: timestampFromMs(started),
      executionCompletedTimestamp: timestampFromMs(result.createdAt),
      auxiliaryMetadata: [anyPack(ResultMetadataSchema, metadata)],
    }),
  });
  if (result.log) message.stdoutDigest = digestOf(result.log, logSize);
  if (signingKey === undefined) return toBinary(ActionResultSchema, message);
  const unsigned = toBinary(ActionResultSchema, message);
  const hmac = signature(signingKey, key, unsigned);
  message.executionMetadata!.auxiliaryMetadata.push(anyPack(SignatureSchema, create(SignatureSchema, { hmacSha256: hmac })));
  return toBinary(ActionResultSchema, message);
}

/** HMAC-SHA256 over the action key, a zero byte and the unsigned ActionResult's bytes. */
function signature(signingKey: string, key: string, unsigned: Uint8Array): Buffer {
  return createHmac("sha256", signingKey).update(key).update(Buffer.of(0)).update(unsigned).digest();
}

/**
 * Decodes an `/ac/` entry. With a signing key, an entry without a signature or with a wrong one is
 * refused: the signature covers the entry as decoded (re-encoded without the signature), so what
 * kiln acts on is exactly what was signed. Throws ResultRefused.
 */
export function decodeResult(key: string, bytes: Uint8Array, signingKey?: string): DecodedResult {
  let message: RemoteActionResult;
  try {
    message = fromBinary(ActionResultSchema, bytes);
  } catch (error) {
    throw new ResultRefused(`not an ActionResult protobuf (${(error as Error).message})`, "malformed");
  }
  const aux = message.executionMetadata?.auxiliaryMetadata ?? [];
  if (signingKey !== undefined) {
    const at = aux.findIndex((any) => anyIs(any, SignatureSchema));
    if (at < 0) throw new ResultRefused("it is not signed", "unsigned");
    const claimed = anyUnpack(aux[at]!, SignatureSchema)!.hmacSha256;
    aux.splice(at, 1);
    const expected = signature(signingKey, key, toBinary(ActionResultSchema, message));
    if (claimed.length !== expected.length || !timingSafeEqual(claimed, expected)) {
      throw new ResultRefused("its signature does not match (forged, or signed with another key)", "forged");
    }
  }
  if (message.exitCode !== 0) throw new ResultRefused(`it records a failed action (exit code ${message.exitCode})`, "malformed");
  const outputs: OutputRecord[] = [];
  for (const file of message.outputFiles) {
    const digest = checkDigest(file.digest, `output ${file.path}`);
    if (!isSafeOutputName(file.path)) throw new ResultRefused(`output path "${file.path}" is not a relative path inside the output directory`, "malformed");
    outputs.push({ name: file.path, digest: digest.hash, size: digest.size });
  }
  outputs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const metadataAny = aux.find((any) => anyIs(any, ResultMetadataSchema));
  const metadata = metadataAny ? anyUnpack(metadataAny, ResultMetadataSchema) : undefined;
  const completed = message.executionMetadata?.executionCompletedTimestamp;
  const start = message.executionMetadata?.executionStartTimestamp;
  const createdAt = completed ? timestampDate(completed).getTime() : 0;
  const result: ActionResult = {
    outputs,
    ms: completed && start ? Math.max(0, createdAt - timestampDate(start).getTime()) : 0,
    createdAt,
  };
  let logSize = 0;
  if (message.stdoutDigest) {
    const log = checkDigest(message.stdoutDigest, "log");
    result.log = log.hash;
    logSize = log.size;
  }
  if (metadata?.previousKey && HEX64.test(metadata.previousKey)) result.previousKey = metadata.previousKey;
  if (metadata?.sandbox === "bwrap" || metadata?.sandbox === "unshare" || metadata?.sandbox === "dir") result.sandbox = metadata.sandbox;
  if (metadata?.network) result.network = true;
  const decoded: DecodedResult = { result, logSize };
  const originsSize = Number(metadata?.originsSize ?? 0n);
  if (metadata?.originsDigest && HEX64.test(metadata.originsDigest) && Number.isSafeInteger(originsSize)) {
    decoded.origins = { digest: metadata.originsDigest as ContentDigest, size: originsSize };
  }
  return decoded;
}

function digestOf(hash: string, size: number): Digest {
  return create(DigestSchema, { hash, sizeBytes: BigInt(size) });
}

function checkDigest(digest: Digest | undefined, what: string): { hash: ContentDigest; size: number } {
  if (!digest || !HEX64.test(digest.hash)) throw new ResultRefused(`${what} has no SHA-256 digest`, "malformed");
  const size = Number(digest.sizeBytes);
  if (!Number.isSafeInteger(size) || size < 0) throw new ResultRefused(`${what} has an impossible size`, "malformed");
  return { hash: digest.hash as ContentDigest, size };
}

/** A name kiln could have written: relative, POSIX, no `.`/`..` segments. */
function isSafeOutputName(name: string): boolean {
  if (name.length === 0 || name.startsWith("/") || name.includes("\\") || name.includes("\0")) return false;
  return name.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}
