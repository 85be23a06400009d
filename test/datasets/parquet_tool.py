"""pyarrow and DuckDB as readers and writers kiln did not write, for the dataset tests.

  python3 parquet_tool.py check                 -> exits 0 when pyarrow and DuckDB import
  python3 parquet_tool.py read FILE             -> JSON: rows, columns (name, Arrow type, nullable), key-value metadata
  python3 parquet_tool.py duckdb FILE SQL       -> JSON: the query's rows (the file is the view `t`)
  python3 parquet_tool.py write OUT CODEC KIND  -> writes a table pyarrow made (KIND: flat | nested)
  python3 parquet_tool.py trips OUT N GROUP     -> writes N generated trips in row groups of GROUP rows
"""
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def read(path):
    table = pq.read_table(path)
    metadata = pq.ParquetFile(path).metadata
    kv = {k.decode(): v.decode() for k, v in (metadata.metadata or {}).items()}
    columns = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema]
    return {"num_rows": table.num_rows, "row_groups": metadata.num_row_groups, "columns": columns, "metadata": kv, "rows": table.to_pylist()}


def flat_table():
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "name": pa.array(["Adelie", None, "Gentoo", "ü€😀"], pa.string()),
            "mass": pa.array([3750, 3800, None, 5000], pa.int32()),
            "beak": pa.array([39.1, None, 46.5, -1.5], pa.float64()),
            "ok": pa.array([True, False, None, True], pa.bool_()),
        }
    )


def nested_table():
    return pa.table({"id": pa.array([1, 2], pa.int64()), "tags": pa.array([["a"], []], pa.list_(pa.string())), "point": pa.array([{"x": 1}, {"x": 2}])})


def trips(path, n, group):
    ids = pa.array(range(1, n + 1), pa.int64())
    vendor = pa.array(["CMT", "VTS", "DDS"] * (n // 3) + ["CMT", "VTS", "DDS"][: n % 3])
    fare = pa.array([round(2.5 + (i % 800) / 10, 2) for i in range(n)], pa.float64())
    pq.write_table(pa.table({"id": ids, "vendor": vendor, "fare": fare}), path, row_group_size=group)


def main():
    command = sys.argv[1]
    if command == "check":
        import duckdb  # noqa: F401
    elif command == "read":
        print(json.dumps(read(sys.argv[2])))
    elif command == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{sys.argv[2]}')")
        print(json.dumps(con.execute(sys.argv[3]).fetchall(), default=str))
    elif command == "write":
        out, codec, kind = sys.argv[2], sys.argv[3], sys.argv[4]
        table = flat_table() if kind == "flat" else nested_table()
        pq.write_table(table, out, compression=codec, row_group_size=3)
    elif command == "trips":
        trips(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
