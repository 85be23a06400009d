import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { ActionResult } from "../local-store.js";
import type { ContentDigest } from "../../key/digest.js";
import { ActionResultSchema } from "./gen/build/bazel/remote/execution/v2/remote_execution_pb.js";
import { decodeResult, encodeResult, ResultRefused } from "./result-codec.js";

const KEY = "a".repeat(64);
const result: ActionResult = {
  outputs: [
    { name: "model.bin", digest: "b".repeat(64) as ContentDigest, size: 1234 },
    { name: "sub/metrics.json", digest: "c".repeat(64) as ContentDigest, size: 56 },
  ],
  log: "d".repeat(64) as ContentDigest,
  ms: 250,
  createdAt: 1_700_000_000_000,
  previousKey: "e".repeat(64),
  sandbox: "bwrap",
};

function refusal(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ResultRefused) return error.reason;
    throw error;
  }
  return undefined;
}

describe("ActionResult encoding", () => {
  it("round-trips kiln's result through a REAPI ActionResult", () => {
    const bytes = encodeResult(KEY, result, 99);
    const reapi = fromBinary(ActionResultSchema, bytes);
    expect(reapi.outputFiles.map((file) => file.path)).toEqual(["model.bin", "sub/metrics.json"]);
    expect(reapi.stdoutDigest).toMatchObject({ hash: "d".repeat(64), sizeBytes: 99n });
    expect(reapi.executionMetadata?.worker).toBe("kiln");
    expect(decodeResult(KEY, bytes)).toEqual({ result, logSize: 99 });
  });

  it("names the blob of the action's origins, so provenance survives the remote; the signature covers it", () => {
    const origins = { digest: "a".repeat(64) as never, size: 321 };
    expect(decodeResult(KEY, encodeResult(KEY, result, 99, undefined, origins))).toEqual({ result, logSize: 99, origins });
    const signed = fromBinary(ActionResultSchema, encodeResult(KEY, result, 99, "secret", origins));
    // Another origins blob named under a valid signature: refused as forged.
    const metadata = signed.executionMetadata!.auxiliaryMetadata.find((any) => any.typeUrl.endsWith("ResultMetadata"))!;
    metadata.value = new Uint8Array(Buffer.from(Buffer.from(metadata.value).toString("latin1").replace("a".repeat(64), "b".repeat(64)), "latin1"));
    expect(refusal(() => decodeResult(KEY, toBinary(ActionResultSchema, signed), "secret"))).toBe("forged");
  });

  it("a signed entry is still a valid ActionResult, and verifies with the same key only", () => {
    const bytes = encodeResult(KEY, result, 99, "secret");
    expect(fromBinary(ActionResultSchema, bytes).outputFiles).toHaveLength(2);
    expect(decodeResult(KEY, bytes, "secret").result).toEqual(result);
    expect(refusal(() => decodeResult(KEY, bytes, "other"))).toBe("forged");
    // The signature covers the key: the same entry stored under another key is refused.
    expect(refusal(() => decodeResult("f".repeat(64), bytes, "secret"))).toBe("forged");
    expect(refusal(() => decodeResult(KEY, encodeResult(KEY, result, 99), "secret"))).toBe("unsigned");
  });

  it("a signed entry whose outputs were swapped is refused", () => {
    const message = fromBinary(ActionResultSchema, encodeResult(KEY, result, 99, "secret"));
    message.outputFiles[0]!.digest!.hash = "0".repeat(64);
    expect(refusal(() => decodeResult(KEY, toBinary(ActionResultSchema, message), "secret"))).toBe("forged");
  });

  it("refuses garbage and paths outside the output directory", () => {
    expect(refusal(() => decodeResult(KEY, Buffer.from("not a protobuf at all \u0000\u0001")))).toBe("malformed");
    const message = fromBinary(ActionResultSchema, encodeResult(KEY, result, 99));
    message.outputFiles[0]!.path = "../../etc/passwd";
    expect(refusal(() => decodeResult(KEY, toBinary(ActionResultSchema, message)))).toBe("malformed");
  });
});
