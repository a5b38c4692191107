"""Reads Flightlog's exports with polars, as a data team would.

argv: files (.csv, .arrow, .parquet). Prints, per file, the row count and
each column's polars type, as JSON.
"""
import json
import sys

import polars as pl

out = {}
for path in sys.argv[1:]:
    if path.endswith(".csv"):
        frame = pl.read_csv(path, infer_schema_length=10000)
    elif path.endswith(".arrow"):
        frame = pl.read_ipc_stream(path)
    else:
        frame = pl.read_parquet(path)
    out[path] = {"rows": frame.height, "schema": {name: str(dtype) for name, dtype in frame.schema.items()},
                 "first": {k: (v if isinstance(v, (int, float, str, type(None))) else str(v)) for k, v in frame.row(0, named=True).items()}}
print(json.dumps(out))
