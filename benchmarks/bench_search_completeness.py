"""Search completeness on Milvus Lite: which index type and search ``ef`` return every row asked for.

For each vector index type (FLAT, AUTOINDEX, HNSW) this writes ``--rows`` random unit vectors in
batches of 32 (``page`` = row % 60, so ``page == g`` matches rows/60 rows), closes and reopens the
database (the state a later ``qwen3vl search`` sees), then runs ``--queries`` searches each of
top-250, top-``rows`` and a filtered top-5, with ``ef`` unset, ``ef = limit``, ``ef = max(2 limit,
64)`` and ``ef = max(limit, rows)``. It prints the fewest and mean results per case; complete
means top-250 = 250, top-rows = rows and filtered = 5. The measurement behind ``MilvusStore``'s
choice of FLAT on Milvus Lite.

    python benchmarks/bench_search_completeness.py [--rows 300] [--queries 20] [--dim 64] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

import numpy as np

EF_RULES = {"ef unset": lambda limit, rows: None, "ef=limit": lambda limit, rows: limit,
            "ef=max(2*limit,64)": lambda limit, rows: max(2 * limit, 64), "ef=max(limit,rows)": max}


def build(path: str, index_type: str, vectors: np.ndarray) -> None:
    from milvus_lite.server_manager import server_manager_instance
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(path)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    schema.add_field("page", DataType.INT64)
    client.create_collection("c", schema=schema, consistency_level="Strong")
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="COSINE")
    client.create_index("c", index, sync=False)
    client.load_collection("c")
    for start in range(0, len(vectors), 32):
        client.upsert("c", [{"id": f"r{i}", "vector": vectors[i].tolist(), "page": i % 60}
                            for i in range(start, min(start + 32, len(vectors)))])
    client.close()
    server_manager_instance.release_server(os.path.abspath(path))


def measure(path: str, rows: int, queries: np.ndarray) -> dict[str, tuple[list, list, list]]:
    from pymilvus import MilvusClient

    client = MilvusClient(path)
    client.load_collection("c")

    def count(vector, limit: int, rule, expr: str = "") -> int:
        params: dict = {"metric_type": "COSINE"}
        ef = rule(limit, rows)
        if ef is not None:
            params["params"] = {"ef": ef}
        hits = client.search("c", data=[vector.tolist()], limit=limit, filter=expr, search_params=params,
                             consistency_level="Strong")
        return len(hits[0])

    out = {}
    for label, rule in EF_RULES.items():
        out[label] = ([count(q, 250, rule) for q in queries], [count(q, rows, rule) for q in queries],
                      [count(q, 5, rule, f"page == {i * 7 % 60}") for i, q in enumerate(queries)])
    client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="10 queries, for a smoke run")
    args = parser.parse_args(argv)
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    if args.rows < 300 or args.rows % 60:
        parser.error("--rows must be a multiple of 60, at least 300 (filters match rows/60 >= 5 rows)")
    queries_n = 10 if args.quick else args.queries
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(args.rows, args.dim)).astype(np.float32)
    queries = rng.normal(size=(queries_n, args.dim)).astype(np.float32)
    print(f"bench_search_completeness: {args.rows} rows, {args.dim}-d, {queries_n} queries, Milvus Lite, reopened")
    print(f"{'index':10s} {'search params':20s} {'top-250 min/mean':>17s} {f'top-{args.rows} min/mean':>17s} "
          f"{'filter-5 min/mean':>18s}  complete")
    with tempfile.TemporaryDirectory(prefix="bench_complete_") as tmp:
        for index_type in ("FLAT", "AUTOINDEX", "HNSW"):
            path = os.path.join(tmp, f"{index_type.lower()}.db")
            build(path, index_type, vectors)
            for label, (top250, top_all, filtered) in measure(path, args.rows, queries).items():
                complete = min(top250) == 250 and min(top_all) == args.rows and min(filtered) == 5
                print(f"{index_type:10s} {label:20s} {min(top250):>8d}/{np.mean(top250):<8.1f} "
                      f"{min(top_all):>8d}/{np.mean(top_all):<8.1f} {min(filtered):>9d}/{np.mean(filtered):<8.2f}  "
                      f"{'yes' if complete else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
