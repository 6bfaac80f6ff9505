"""Tape-out at scale: time and peak memory of ``ffzero export-gds --from RUN``, ``ffzero verify`` and its sign-off.

    python benchmarks/layout_scale.py                    # N = 8, 16, 25, 64; table also in docs/results/layout_scale.md
    python benchmarks/layout_scale.py --sizes 8 16 --out ''   # print only

For a one-layer chip; the sign-off is ``ffzero verify --wavelengths 1.545:1.555:21 --corners`` (21 wavelengths x 6
corners). Each command runs in a fresh Python process (the real CLI, in-process through ``cli.main``),
which reports its own wall time and peak resident memory (``ru_maxrss``: klayout's C++
allocations included, which tracemalloc misses). Runs are trained for one epoch first
(untimed). Ratios are against the smallest N of the same run. ``FFZERO_BOUNDED=1`` runs N = 8, 16.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from ffzero_photonics.cli.main import main
code = main(sys.argv[1:])
print("RESULT " + json.dumps({"code": code, "wall_s": time.perf_counter() - t0,
                              "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_TRAIN = r"""
import sys
from ffzero_photonics.runs import RunSpec, train_run
from ffzero_photonics.trainer import TrainConfig
n = int(sys.argv[1])
spec = RunSpec(model="photonic", model_options={"ports": n, "layers": 1, "mesh": "clements"},
               dataset="digits" if n >= 10 else "wine",
               train=TrainConfig(paradigm="ffzero", epochs=1, batch_size=2048, seed=0))
train_run(spec, sys.argv[2], progress=False, log=lambda m: None)
"""

_RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "layout_scale.md"
_SIGNOFF = ("--wavelengths", "1.545:1.555:21", "--corners")
_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg", "FFZERO_PROGRESS": "0"}


def _run(code: str, *args: str) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=_ENV, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"{args[:2]} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):]), proc.stdout


def _die(stdout: str) -> str:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("die ")), "")
    return line.split(",")[0][len("die "):].replace(" mm", "") if line else "?"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bounded = os.environ.get("FFZERO_BOUNDED") == "1"
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16] if bounded else [8, 16, 25, 64])
    ap.add_argument("--out", default=str(_RESULTS), help="markdown file for the table ('' = none)")
    args = ap.parse_args(argv)

    head = ("| N | MZIs | heaters | die (mm) | export s | export peak MB | verify s (extract / simulate) | verify peak MB "
            f"| verify | verify + sign-off s (sweep) | sign-off peak MB | export s / N={args.sizes[0]} "
            f"| verify s / N={args.sizes[0]} |")
    rows = [head, "|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    print("\n".join(rows), flush=True)
    base: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            run, gds = Path(tmp) / f"run{n}", Path(tmp) / f"chip{n}.gds"
            subprocess.run([sys.executable, "-c", _TRAIN, str(n), str(run)], check=True, env=_ENV, capture_output=True)
            export, out = _run(_CHILD, "export-gds", "--from", str(run), "--out", str(gds))
            if export["code"] != 0:
                raise RuntimeError(f"export-gds of N={n} failed:\n{out[-2000:]}")
            report = Path(tmp) / f"verify{n}.json"
            verify, _ = _run(_CHILD, "verify", str(run), "--gds", str(gds), "--json", str(report))
            timings = json.loads(report.read_text())["timings"]
            swept, _ = _run(_CHILD, "verify", str(run), "--gds", str(gds), "--json", str(report), *_SIGNOFF)
            sweep_s = json.loads(report.read_text())["timings"]["signoff_s"]
            base = base or (export["wall_s"], verify["wall_s"])
            n_mzis = n * (n - 1) // 2
            rows.append(
                f"| {n} | {n_mzis} | {2 * n_mzis + n} | {_die(out)} | {export['wall_s']:.1f} | {export['rss_mb']:.0f} "
                f"| {verify['wall_s']:.1f} ({timings['extract_s']:.1f} / {timings['simulate_s']:.1f}) "
                f"| {verify['rss_mb']:.0f} | {'PASS' if verify['code'] == 0 else 'FAIL'} "
                f"| {swept['wall_s']:.1f} ({sweep_s:.1f}) | {swept['rss_mb']:.0f} "
                f"| {export['wall_s'] / base[0]:.2f} | {verify['wall_s'] / base[1]:.2f} |"
            )
            print(rows[-1], flush=True)
    if args.out:
        Path(args.out).write_text(
            "# Tape-out at scale (one-layer Clements chip, `benchmarks/layout_scale.py`)\n\n"
            "Wall time and peak resident memory of `ffzero export-gds --from RUN`, `ffzero verify RUN --gds GDS` and "
            f"`ffzero verify RUN --gds GDS {' '.join(_SIGNOFF)}`, each in a fresh process on 2 cores (the import of "
            "jax/gdsfactory alone is ~0.4 GB).\n\n"
            + "\n".join(rows) + "\n"
        )


if __name__ == "__main__":
    main()
