"""Virtual fab results: train, export and fabricate a 16-port 2-layer chip and an N = 64 chip; yield before and after.

    python benchmarks/fab.py                       # both chips, 100 instances each -> docs/results/fab_16x2.*, fab_n64.*
    python benchmarks/fab.py --cases 16x2 --instances 20 --out ''     # print only
    FFZERO_BOUNDED=1 python benchmarks/fab.py      # 4 instances, 2 epochs: a smoke run of the same commands

Each case runs the real CLI in a fresh process: ``ffzero train`` (modest budget), ``ffzero export-gds --from RUN``,
``ffzero fab RUN --gds chip.gds --instances N --epochs E``; the results' .md names the commands, the layout
(``git rev-parse HEAD`` + whether the layout files differ from it) and the wall time of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
CASES = {
    # name: (train options, title, train epochs per layer, in-situ epochs per layer)
    "16x2": (["--chip-config", str(ROOT / "examples" / "chip.toml")], "16-port 2-layer physical chip (examples/chip.toml)",
             150, 20),
    "n64paper": (["--ports", "64", "--layers", "1"], "N = 64 one-layer paper chip (ideal model, drawn-layout fab errors)",
                 100, 2),
    "n64": (["--chip-config", str(ROOT / "examples" / "chip64.toml")], "N = 64 one-layer physical chip (examples/chip64.toml)",
            30, 2),
}


def _ffzero(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ffzero_photonics", *args], check=True, env=_ENV, cwd=ROOT)
    return time.perf_counter() - t0


def _layout_state() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "layouts", "components"], capture_output=True, text=True,
                           cwd=ROOT, check=False).stdout.strip()
    return f"{head}{' + uncommitted layout/cell edits' if dirty else ''}"


def run_case(name: str, work: Path, instances: int, train_epochs: int, fab_epochs: int, layout: str | None = None) -> dict:
    options, title, _, _ = CASES[name]
    run, gds, out = work / f"run_{name}", work / f"gds_{name}" / "chip.gds", work / f"fab_{name}"
    gds.parent.mkdir(parents=True, exist_ok=True)
    times = {"train_s": _ffzero("train", "--model", "photonic", *options, "--epochs", str(train_epochs), "--out", str(run))}
    times["export_s"] = _ffzero("export-gds", "--from", str(run), "--out", str(gds))
    times["fab_s"] = _ffzero("fab", str(run), "--gds", str(gds), "--instances", str(instances), "--epochs", str(fab_epochs),
                             "--out", str(out))
    summary = json.loads((out / "fab.json").read_text())
    return {"name": name, "title": title, "options": options, "train_epochs": train_epochs, "times": times,
            "summary": summary, "out": out, "layout": layout or _layout_state()}


def _rel(option: str) -> str:
    return os.path.relpath(option, ROOT) if option.startswith(str(ROOT)) else option


def markdown(case: dict) -> str:
    s, t = case["summary"], case["times"]
    b, a = s["accuracy_before"], s["accuracy_after"]
    rows = "\n".join(f"| accuracy >= {k} | {s['yield_before'][k]:.2f} | {s['yield_after'][k]:.2f} |" for k in s["yield_before"])
    spread = ", ".join(f"{k} = {v}" for k, v in s["spread"].items())
    return f"""# Virtual fab: {case['title']}

`python benchmarks/fab.py --cases {case['name']}` ({s['instances']} instances, fab seed {s['seed']}; layout {case['layout']}).

Commands: `ffzero train --model photonic {' '.join(_rel(o) for o in case['options'])} --epochs {case['train_epochs']}`;
`ffzero export-gds --from RUN --out chip.gds`; `ffzero fab RUN --gds chip.gds --instances {s['instances']}
--epochs {s['fine_tune']['epochs_per_layer']}` (lr {s['fine_tune']['lr']:g}). Spread: {spread}.

The drawn design (the exported heater table on the drawn layout at the design point, as `ffzero signoff`'s
nominal corner) scores **{s['exported_accuracy']:.3f}** test accuracy.

| test accuracy | as fabricated (exported table) | after in-situ FFzero |
|---|---|---|
| median | {b['median']:.3f} | {a['median']:.3f} |
| mean | {b['mean']:.3f} | {a['mean']:.3f} |
| min / max | {b['min']:.3f} / {b['max']:.3f} | {a['min']:.3f} / {a['max']:.3f} |

| yield (fraction of instances) | before | after |
|---|---|---|
{rows}

Per instance, in-situ fine-tuning through the black box only: {s['sample_queries_per_instance']['mean']:,.0f} training
sample queries, {s['lab_s_per_instance']['mean']:.2f} modelled lab seconds, {s['wall_s_per_instance']['mean']:.1f} s wall
(one core). Wall time of the steps: train {t['train_s']:.0f} s, export {t['export_s']:.0f} s, fab {t['fab_s']:.0f} s.

![yield](fab_{case['name']}.png)

Modelled per instance (`ffzero_photonics/fab`): a phase error 2 pi dneff L / wl on every drawn route, cell lead and
MZI arm (its drawn length L; dneff local per piece plus a common width term), an MMI ratio error, heater P_pi and
resistance spread, thermal crosstalk over the drawn heater positions; a physical run's detector noise and drift.
Approximate: the heater DAC and the chip's power limit are not applied on instances; accuracies are noise-free
test-bench views of each instance (the fine-tune itself reads the detectors); lab seconds are the queries' modelled
time (latency, settling, integration), not the trainer's compute; an index error is uniform along its piece.
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=["16x2", "n64paper"], choices=sorted(CASES))
    p.add_argument("--instances", type=int, default=100)
    p.add_argument("--train-epochs", type=int, default=None, help="per layer [default: the case's]")
    p.add_argument("--fab-epochs", type=int, default=None, help="in-situ epochs per layer [default: the case's]")
    p.add_argument("--work", default=None, help="working directory [default: a temporary one]")
    p.add_argument("--out", default=str(RESULTS), help="results directory ('' prints only)")
    p.add_argument("--layout-note", default=None, help="which layout was drawn [default: git HEAD and its state]")
    args = p.parse_args(argv)
    bounded = os.environ.get("FFZERO_BOUNDED") == "1"
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ffzero_fab_"))
    work.mkdir(parents=True, exist_ok=True)
    for name in args.cases:
        _, _, train_epochs, fab_epochs = CASES[name]
        case = run_case(name, work, 4 if bounded else args.instances,
                        2 if bounded else (args.train_epochs or train_epochs),
                        2 if bounded else (args.fab_epochs or fab_epochs), args.layout_note)
        text = markdown(case)
        print(text)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            stem = "fab_n64" if name.startswith("n64") else f"fab_{name}"
            shutil.copyfile(case["out"] / "fab.csv", out / f"{stem}.csv")
            shutil.copyfile(case["out"] / "yield.png", out / f"{stem}.png")
            (out / f"{stem}.md").write_text(text.replace(f"fab_{name}.png", f"{stem}.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
