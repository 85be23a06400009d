import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openEnvelope, preAuthEncoding, signEnvelope } from "./dsse.js";

describe("DSSE", () => {
  it("encodes PAE as the spec's example does", () => {
    expect(preAuthEncoding("http://example.com/HelloWorld", Buffer.from("hello world")).toString()).toBe("DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  });

  it("opens what it signed, and refuses a changed payload type or payload", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const envelope = signEnvelope(Buffer.from('{"a":1}'), privateKey);
    expect("payload" in openEnvelope(envelope, publicKey)).toBe(true);
    // The type is signed too (PAE): relabelling the payload breaks the signature.
    expect(openEnvelope({ ...envelope, payloadType: "text/plain" }, publicKey)).toHaveProperty("refused");
    expect(openEnvelope({ ...envelope, payload: Buffer.from('{"a":2}').toString("base64") }, publicKey)).toHaveProperty("refused");
    expect(openEnvelope({ ...envelope, signatures: [] }, publicKey)).toEqual({ refused: "it has no signatures" });
  });
});
