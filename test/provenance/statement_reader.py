"""An independent, strict reader of kiln's provenance: the in-toto attestation framework's own
protobuf bindings (PyPI in-toto-attestation, pinned in test/requirements.txt) parse the Statement
and its SLSA Provenance v1 predicate with google.protobuf.json_format, which rejects any field the
protos do not define, then the specs' MUST rules are checked.

  python3 statement_reader.py check        exit 0 when the bindings are importable
  python3 statement_reader.py read FILE    exit 0 and "ok <subjects> <materials> <byproducts>", else exit 1 and why
"""
import json
import sys


def main(argv):
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2

    if argv[1] == "check":
        return 0
    with open(argv[2], "rb") as f:
        text = f.read().decode("utf-8")
    try:
        statement = json_format.Parse(text, statement_pb2.Statement(), ignore_unknown_fields=False)
        provenance = json_format.ParseDict(json.loads(text)["predicate"], provenance_pb2.Provenance(), ignore_unknown_fields=False)
    except json_format.ParseError as error:
        print(f"not valid: {error}")
        return 1
    problems = []
    if statement.type != "https://in-toto.io/Statement/v1":
        problems.append(f"_type is {statement.type}")
    if statement.predicate_type != "https://slsa.dev/provenance/v1":
        problems.append(f"predicateType is {statement.predicate_type}")
    if len(statement.subject) == 0:
        problems.append("no subject")
    for subject in statement.subject:
        if not subject.digest:
            problems.append(f"subject {subject.name} has no digest")  # Statement spec: subject MUST have a digest
    if not provenance.build_definition.build_type:
        problems.append("buildDefinition.buildType is empty")
    if not provenance.run_details.builder.id:
        problems.append("runDetails.builder.id is empty")
    descriptors = list(provenance.build_definition.resolved_dependencies) + list(provenance.run_details.byproducts)
    for descriptor in descriptors:
        # ResourceDescriptor spec: at least one of uri, digest, content MUST be set.
        if not (descriptor.uri or descriptor.digest or descriptor.content):
            problems.append(f"{descriptor.name}: no uri, digest or content")
        for algorithm, value in descriptor.digest.items():
            if algorithm in ("sha256", "sha512", "gitCommit") and not all(c in "0123456789abcdef" for c in value):
                problems.append(f"{descriptor.name}: {algorithm} is not lower-case hex")
    names = [d.name for d in provenance.build_definition.resolved_dependencies]
    if len(names) != len(set(names)):
        problems.append("a resolved dependency is listed twice")
    if problems:
        print("not valid: " + "; ".join(problems))
        return 1
    print(f"ok {len(statement.subject)} {len(provenance.build_definition.resolved_dependencies)} {len(provenance.run_details.byproducts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
