"""An independent check of kiln's DSSE envelopes: securesystemslib (test/requirements.txt) parses
the envelope and verifies its signature over the DSSE pre-authentication encoding with a PEM
public key. The keyid is computed here, as kiln documents it (SHA-256 of the key's DER
SubjectPublicKeyInfo), since securesystemslib only tries keys whose keyid matches.

  python3 dsse_verify.py check                       exit 0 when securesystemslib is importable
  python3 dsse_verify.py verify ENVELOPE PUBLIC.pem  exit 0 and "verified <payloadType> <_type>", else exit 1
"""
import hashlib
import json
import sys


def main(argv):
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    if argv[1] == "check":
        return 0
    envelope_path, key_path = argv[2], argv[3]
    with open(key_path, "rb") as f:
        public = serialization.load_pem_public_key(f.read())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key = SSlibKey.from_crypto(public, keyid=hashlib.sha256(der).hexdigest())
    with open(envelope_path, "rb") as f:
        envelope = Envelope.from_dict(json.load(f))
    try:
        envelope.verify([key], 1)
    except VerificationError as error:
        print(f"refused: {error}")
        return 1
    statement = json.loads(envelope.payload)
    print(f"verified {envelope.payload_type} {statement['_type']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
