"""Per-species summary of the penguins table, for //features:summary and the report.

Usage: python3 summary.py ROWS_JSONL > summary.json

Reads the normalised rows of //data:penguins (one JSON object a line) and prints, for each
species, its count, the count/mean/std/min/max of every numeric column (nulls skipped; std is the
sample standard deviation, n - 1), and its counts by island and by sex. Standard library only, and
the output is JSON with sorted keys, so the same rows always give the same bytes.
"""

import json
import statistics
import sys

SPECIES = "Species"
ISLAND = "Island"
SEX = "Sex"
# Columns that are not measurements even though they are numbers.
NOT_MEASURED = {"id"}
# The source records an undetermined sex as null or, once, as ".".
UNKNOWN_SEXES = {None, "."}


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def is_number(value):
    # bool is an int in Python, but a true/false column is not a measurement.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_columns(rows):
    columns = sorted({key for row in rows for key in row} - NOT_MEASURED)
    return [
        column
        for column in columns
        if any(is_number(row.get(column)) for row in rows)
        and all(row.get(column) is None or is_number(row.get(column)) for row in rows)
    ]


def describe(values):
    present = [v for v in values if v is not None]
    if not present:
        return {"count": 0, "missing": len(values)}
    return {
        "count": len(present),
        "missing": len(values) - len(present),
        "mean": round(statistics.fmean(present), 4),
        "std": round(statistics.stdev(present), 4) if len(present) > 1 else 0.0,
        "min": min(present),
        "max": max(present),
    }


def count_by(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def summarise(rows):
    columns = numeric_columns(rows)
    by_species = {}
    for row in rows:
        by_species.setdefault(row.get(SPECIES) or "unknown", []).append(row)
    return {
        "count": len(rows),
        "measurements": columns,
        "species": {
            species: {
                "count": len(members),
                "measurements": {c: describe([m.get(c) for m in members]) for c in columns},
                "islands": count_by(m.get(ISLAND) or "unknown" for m in members),
                "sex": count_by("unknown" if m.get(SEX) in UNKNOWN_SEXES else m.get(SEX) for m in members),
            }
            for species, members in by_species.items()
        },
    }


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: summary.py ROWS_JSONL\n")
        return 2
    summary = summarise(read_rows(argv[1]))
    sys.stdout.write(json.dumps(summary, sort_keys=True, indent=2, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
