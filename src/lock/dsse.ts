/**
 * DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1) around in-toto statements:
 * the signature is over PAE("application/vnd.in-toto+json", statement bytes), never over JSON
 * re-serialised, so a verifier checks exactly the bytes it will parse. Keys are PEM files: Ed25519
 * (signature as is) or ECDSA P-256 with SHA-256 (signature DER-encoded, as securesystemslib and
 * sigstore expect). A signature's keyid is the SHA-256 of the public key's DER (SubjectPublicKeyInfo).
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { inputError } from "../errors.js";

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

export interface Envelope {
  payloadType: string;
  /** Base64 (standard, padded) of the payload bytes. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** The pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal bytes. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** True when `value` has an envelope's shape (a statement file may hold either). */
export function isEnvelope(value: unknown): value is Envelope {
  const v = value as Partial<Envelope> | null;
  return typeof v === "object" && v !== null && typeof v.payloadType === "string" && typeof v.payload === "string" && Array.isArray(v.signatures);
}

/** The digest algorithm node's sign/verify take for the key: none for Ed25519, SHA-256 for P-256. */
function algorithmFor(key: KeyObject, file: string): string | null {
  if (key.asymmetricKeyType === "ed25519") return null;
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "sha256";
  const what = key.asymmetricKeyType === "ec" ? `an ECDSA key on ${key.asymmetricKeyDetails?.namedCurve}` : `a${key.asymmetricKeyType === "rsa" ? "n" : ""} ${key.asymmetricKeyType} key`;
  throw inputError(`${file} is ${what}; kiln signs with Ed25519 or ECDSA P-256 (openssl genpkey -algorithm ed25519 -out key.pem)`);
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex");
}

/** A private key from PEM text; throws an input error naming `file` when it is not one kiln signs with. */
export function readSigningKey(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw inputError(`${file} is not a PEM private key (${(error as Error).message})`);
  }
  algorithmFor(key, file);
  return key;
}

/** A public key from PEM text (a private key's PEM gives its public half). */
export function readVerifyingKey(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw inputError(`${file} is not a PEM public key (${(error as Error).message})`);
  }
  algorithmFor(key, file);
  return key;
}

export function signEnvelope(payload: Buffer, privateKey: KeyObject, payloadType = IN_TOTO_PAYLOAD_TYPE): Envelope {
  const sig = sign(algorithmFor(privateKey, "the signing key"), preAuthEncoding(payloadType, payload), privateKey);
  return { payloadType, payload: payload.toString("base64"), signatures: [{ keyid: keyIdOf(createPublicKey(privateKey)), sig: sig.toString("base64") }] };
}

/**
 * The payload when some signature of the envelope verifies with `publicKey`; otherwise why not.
 * keyids are hints only (DSSE): every signature is tried.
 */
export function openEnvelope(envelope: Envelope, publicKey: KeyObject): { payload: Buffer } | { refused: string } {
  if (envelope.signatures.length === 0) return { refused: "it has no signatures" };
  const payload = Buffer.from(envelope.payload, "base64");
  const pae = preAuthEncoding(envelope.payloadType, payload);
  const algorithm = algorithmFor(publicKey, "the verifying key");
  for (const signature of envelope.signatures) {
    let ok = false;
    try {
      ok = verify(algorithm, pae, publicKey, Buffer.from(signature.sig, "base64"));
    } catch {
      ok = false;
    }
    if (ok) return { payload };
  }
  return { refused: `none of its ${envelope.signatures.length} signature${envelope.signatures.length === 1 ? "" : "s"} verifies with key ${keyIdOf(publicKey).slice(0, 16)} (tampered, or signed with another key)` };
}
