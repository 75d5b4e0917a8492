"""`python -m bench all` (what `make bench` runs) calls run() of every module it lists: a module listed
without one made the whole `make bench` exit non-zero."""

from __future__ import annotations

import ast

from bench.__main__ import BENCH_DIR, benchmark_names


def test_every_listed_benchmark_has_a_run_function() -> None:
    names = benchmark_names()
    assert {"store", "ingest", "sync", "map", "ui", "report", "triage", "cluster"} <= set(names)
    for name in names:
        tree = ast.parse((BENCH_DIR / f"{name}.py").read_text(encoding="utf-8"))
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert "run" in functions, f"bench/{name}.py is listed as a benchmark but has no run()"
