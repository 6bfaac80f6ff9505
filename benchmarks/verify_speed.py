"""Time of post-layout verification (``tapeout.verify_run``) of a trained chip for N = 8, 16, 25, as a markdown table.

    python benchmarks/verify_speed.py                     # N = 8, 16, 25; 2 layers, Clements
    python benchmarks/verify_speed.py --sizes 8 --layers 1

Each size gets a minimal photonic run on digits (wine below 10 ports: digits
has 10 classes; one epoch, one large batch:
the verification cost does not depend on how well the chip is trained),
exported with ``tapeout.export_run`` (route-compensated) and verified in a fresh process (numpy simulation,
sax cross-check up to N = 25), so the sax / jax compile time a first verification pays is included. Wall and CPU time are
reported: on a shared machine the wall clock also measures other jobs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, sys, time
w0, c0 = time.perf_counter(), time.process_time()
from ffzero_photonics.tapeout import verify_run
rep = verify_run(sys.argv[1], sys.argv[2])
out = {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0, "passed": rep.passed,
       "timings": rep.timings, "deviation": max(rep.deviation_routes), "extracted": rep.extracted,
       "acc": [rep.trained_accuracy, rep.layout_accuracy_routes]}
print("RESULT " + json.dumps(out))
"""


def _prepare(tmp: Path, n: int, layers: int, topology: str) -> tuple[Path, Path, float]:
    from ffzero_photonics.runs import RunSpec, train_run
    from ffzero_photonics.tapeout import export_run
    from ffzero_photonics.trainer import TrainConfig

    run = tmp / f"run{n}"
    spec = RunSpec(
        model="photonic", model_options={"ports": n, "layers": layers, "mesh": topology},
        dataset="digits" if n >= 10 else "wine",
        train=TrainConfig(paradigm="ffzero", epochs=1, batch_size=2048, seed=0),
    )
    train_run(spec, run, progress=False, log=lambda m: None)
    t0 = time.perf_counter()
    result, _ = export_run(run, tmp / f"chip{n}.gds")
    return run, result.gds_path, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 25])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--topology", default="clements", choices=["clements", "reck"])
    args = ap.parse_args(argv)

    print("| N | layers | MZIs | export s | verify wall s | verify cpu s | extract s | simulate s | accuracy s | max dev (routed) | PASS | cpu / smallest N |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            run, gds, export_s = _prepare(Path(tmp), n, args.layers, args.topology)
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(run), str(gds)], capture_output=True, text=True)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(f"| {n} | {args.layers} | verification failed to run: {proc.stderr.strip().splitlines()[-1:]} |")
                continue
            r = json.loads(line[len("RESULT "):])
            t = r["timings"]
            mzis = args.layers * n * (n - 1) // 2
            reference = reference or r["cpu_s"]
            print(
                f"| {n} | {args.layers} | {mzis} | {export_s:.1f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {t['extract_s']:.1f} "
                f"| {t['simulate_s']:.1f} | {t['accuracy_s']:.1f} | {r['deviation']:.1e} | {'PASS' if r['passed'] else 'FAIL'} "
                f"| {r['cpu_s'] / reference:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
