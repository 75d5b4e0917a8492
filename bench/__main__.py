"""Benchmark harness.

  python -m bench NAME [--json] [--quick]   run bench/NAME.py's run(quick) and print its metrics
  python -m bench all [--json] [--quick]    run every benchmark module, each in its own process,
                                            merge all metrics into one flat object, write it to
                                            bench/out/results.json and print it

A benchmark module exposes run(quick: bool = False) -> dict[str, float | int] measuring the
project and its baseline in the same run. In `all`, a benchmark that fails or crashes becomes
an entry "<name>_error" and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
OUT_FILE = BENCH_DIR / "out" / "results.json"
#: modules of bench/ that are not benchmarks: helpers, and vector_renderers (a one-off comparison of the
#: map renderers we chose between, run as `python -m bench.vector_renderers`; no run() to call)
NOT_BENCHMARKS = {"__main__", "common", "vector_renderers"}
#: a benchmark that runs longer than this is stopped and reported as an error
TIMEOUT_S = 1800


def benchmark_names() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(BENCH_DIR)])
        if info.name not in NOT_BENCHMARKS and not info.name.startswith("_")
    )


def run_one(name: str, quick: bool) -> dict[str, Any]:
    module = importlib.import_module(f"bench.{name}")
    metrics = module.run(quick=quick)
    if not isinstance(metrics, dict):
        raise TypeError(f"bench.{name}.run() returned {type(metrics).__name__}, not a dict")
    return metrics


def run_all(quick: bool) -> tuple[dict[str, Any], bool]:
    """Each benchmark in a child process: one crashing (or leaking threads, Qt state...) cannot
    spoil the next one's numbers."""
    merged: dict[str, Any] = {}
    all_ok = True
    for name in benchmark_names():
        argv = [sys.executable, "-m", "bench", name, "--json"] + (["--quick"] if quick else [])
        started = time.perf_counter()
        try:
            child = subprocess.run(
                argv, cwd=BENCH_DIR.parent, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            merged[f"{name}_error"] = f"timed out after {TIMEOUT_S} s"
            all_ok = False
            continue
        print(f"bench {name}: {time.perf_counter() - started:.1f} s, exit {child.returncode}", file=sys.stderr)
        metrics = _last_json_object(child.stdout)
        if child.returncode != 0 or metrics is None:
            lines = (child.stderr.strip() or child.stdout.strip() or "no output").splitlines()
            merged[f"{name}_error"] = f"exit {child.returncode}: {lines[-1] if lines else ''}"
            all_ok = False
            continue
        for key, value in metrics.items():
            if key in merged:
                merged[f"{name}_error"] = f"metric {key!r} is also reported by another benchmark"
                all_ok = False
            merged[key] = value
    return merged, all_ok


def _last_json_object(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def main(argv: list[str] | None = None) -> int:
    names = benchmark_names()
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run benchmarks; print JSON metrics.")
    parser.add_argument("name", choices=[*names, "all"], help="a benchmark module of bench/, or all")
    parser.add_argument("--json", action="store_true", help="one compact JSON line (default: indented)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)

    if args.name == "all":
        metrics, ok = run_all(args.quick)
        OUT_FILE.parent.mkdir(exist_ok=True)
        OUT_FILE.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    else:
        try:
            metrics, ok = run_one(args.name, args.quick), True
        except Exception as exc:  # noqa: BLE001 - reported as the benchmark's result
            traceback.print_exc()
            metrics, ok = {f"{args.name}_error": f"{type(exc).__name__}: {exc}"}, False
    print(json.dumps(metrics, sort_keys=True, indent=None if args.json else 2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
