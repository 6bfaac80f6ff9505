"""Photonic chips on digits: FFzero against its autodiff bounds (FF+AD, BP+AD), 5 seeds, one command.

Ideal (paper) chips: N = 64 with one layer (all 8x8 pixels) and 2- and 3-layer chips with
25 ports (5x5 resampled) and 16 ports (4x4 pooled). For each chip: FFzero with the paper's
loss (cosine on normalized powers, ``--loss auto``), FFzero with the softmax cross-entropy on
cosines (``--loss ce``, temperature chosen on the validation split of seeds 5/6, see
``docs/results/photonic_n64_tuning.md`` and ``photonic_deep_tuning.md``), the same at a longer
budget for the deep chips, and the two autodiff bounds with the same loss. Each cell: mean +- std
of the test accuracy over seeds 0..S-1 (the vote of the layers for local paradigms).

    python benchmarks/photonic_accuracy.py            # ~150 core-minutes (~75 min on 2 cores)
    python benchmarks/photonic_accuracy.py --quick    # ~1 min smoke run
    python benchmarks/photonic_accuracy.py --physical --long-epochs 1000   # the buildable chip
    python benchmarks/photonic_accuracy.py --physical --chips 16x2 --long-epochs 1000,3000,6000,12000   # to 56 M
    python benchmarks/photonic_accuracy.py --platform examples/chip64.toml --chips 16x3,25x2,25x3 \
        --long-epochs 1000,3000   # low loss, to 14 / 21 M (~210 core-minutes)
    python benchmarks/photonic_accuracy.py --platform examples/chip64.toml --chips 16x3 \
        --long-epochs 1000,3000,6000   # low-loss 3 x 16 to 42 M (~45 more core-minutes)

Every chip, ideal or buildable, trains on the compiled engine (``--backend jax``: the numpy engine's numbers, the
buildable chip's noise and drift drawn from its own streams; ~5x faster).

``--platform CHIP.toml`` builds the buildable chips on another platform: the file's physics tables
([budget], [detector], [heaters], ...); its [chip] ports and layers are each chip's. The default
platform (examples/chip.toml) reads its 3-layer outputs at -20 dB SNR and cannot power a 25-port chip's heaters;
examples/chip64.toml's low-loss platform (isolated TiN heaters, 0.1 dB couplers) builds all four chips.

On the buildable chip the bounds are FF+AD and BP+AD through each instance's calibrated twin (``--twin calibrated``);
through the nominal twin they are offline baselines.

Every finished run is kept in ``runs/photonic_accuracy/`` (one JSON per run, keyed by chip, settings and seed),
so an interrupted benchmark resumes where it stopped. The key does not know the code: each run records the commit
it ran on (``git describe``, ``-dirty`` for uncommitted changes) and the table names the commits its cells come from;
after changing the trainer or the chip, pass ``--fresh``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import os
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

CHIPS = {"N=64, 1 layer": (64, 1), "N=25, 2 layers": (25, 2), "N=25, 3 layers": (25, 3),
         "N=16, 2 layers": (16, 2), "N=16, 3 layers": (16, 3)}
# the buildable chip (examples/chip.toml's physics, each seed its own fabricated instance)
PHYSICAL_CHIPS = {"physical N=16, 2 layers": (16, 2), "physical N=16, 3 layers": (16, 3),
                  "physical N=25, 2 layers": (25, 2), "physical N=25, 3 layers": (25, 3)}
DEFAULT_PLATFORM_CHIPS = ("16x2", "16x3")  # what examples/chip.toml's platform can build and power
T_CHOSEN = {64: 0.05, 25: 0.05, 16: 0.05}  # ce temperature of FFzero and FF+AD, picked on validation (seeds 5/6)
T_BP_AD = {**T_CHOSEN, 16: 0.1}  # BP+AD's own (photonic_deep_tuning.md s11)
# the buildable chips, per platform file (photonic_deep_tuning.md s11, s12); another platform: examples/chip.toml's
T_PHYSICAL = {"chip": {25: 0.1, 16: 0.1}, "chip64": {25: 0.05, 16: 0.05}}  # FFzero and FF+AD
T_PHYSICAL_BP_AD = {"chip": {25: 0.1, 16: 0.1}, "chip64": {25: 0.1, 16: 0.1}}  # BP+AD's own
LONG_EPOCHS = "1000,3000,6000"  # the deep chips' longer FFzero budgets (parse_budgets: EPOCHS or EPOCHSxK per layer)


PHYSICAL_NOTE = (
    "Digits, the buildable chip (`examples/chip.toml`'s physics: SI units, shot/thermal/RIN detector noise and ADC, "
    "bounded heater drives with P_pi spread, crosstalk from the drawn layout, drift in lab time, activations at a "
    "pi/4 swing; each seed its own fabricated instance), `--backend jax` (the numpy engine's numbers; runs before stop 23 "
    "used the numpy engine). FF+AD and BP+AD train the chip's nominal twin (no P_pi spread, crosstalk, "
    "offsets, drift or noise) and are scored programmed onto the chip: offline baselines, not bounds; with "
    "'calibrated twin' they train the fabricated instance's exact noise-free model (`--twin calibrated`): the bounds "
    "the gaps are taken against; ")


def physical_temperatures(platform: str | None) -> tuple[dict[int, float], dict[int, float]]:
    """The buildable chips' ce temperatures per port count on a platform file (None: examples/chip.toml): FFzero's and
    FF+AD's, BP+AD's."""
    name = Path(platform).stem if platform else "chip"
    name = name if name in T_PHYSICAL else "chip"
    return T_PHYSICAL[name], T_PHYSICAL_BP_AD[name]


def parse_budgets(text: str) -> tuple[tuple[int, int], ...]:
    """``--long-epochs``: comma-separated EPOCHS (K = 1 direction a step) or EPOCHSxK; ValueError on anything else."""
    budgets = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        parts = [int(v) for v in item.split("x")]
        budget = (parts[0], parts[1] if len(parts) == 2 else 1)
        if len(parts) > 2 or min(parts) < 1:
            raise ValueError(item)
        budgets.append(budget)
    return tuple(budgets)


def budget_label(epochs: int, k: int) -> str:
    return f"{epochs} epochs/layer" + (f", K = {k}" if k > 1 else "")


def methods(ports: int, layers: int, epochs: int, long_epochs: tuple[tuple[int, int], ...], physical: bool = False,
            platform: str | None = None) -> dict[str, dict]:
    """Method label -> Trainer settings for one chip (``platform``: a buildable chip's platform file; ``long_epochs``:
    the deep chips' longer FFzero budgets, (epochs per layer, K directions a step))."""
    t_physical, t_physical_bp = physical_temperatures(platform)
    ce = dict(loss="ce", temperature=(t_physical if physical else T_CHOSEN)[ports])
    out = {"FFzero, cosine (paper loss)": dict(paradigm="ffzero", epochs=epochs),
           "FFzero, ce": dict(paradigm="ffzero", epochs=epochs, **ce)}
    for long, k in long_epochs if layers > 1 else ():
        out[f"FFzero, ce, {budget_label(long, k)}"] = dict(paradigm="ffzero", epochs=long, **ce,
                                                            **({"n_dirs": k} if k > 1 else {}))
    ce_bp = dict(loss="ce", temperature=(t_physical_bp if physical else T_BP_AD)[ports])
    out["FF+AD, ce"] = dict(paradigm="ff-ad", **ce)
    out["BP+AD, ce"] = dict(paradigm="bp-ad", **ce_bp)
    out["BP+AD, cosine"] = dict(paradigm="bp-ad")
    if physical:  # the bounds on the fabricated instance: autodiff through its exact (calibrated) twin
        out["FF+AD, ce, calibrated twin"] = dict(paradigm="ff-ad", twin="calibrated", **ce)
        out["BP+AD, ce, calibrated twin"] = dict(paradigm="bp-ad", twin="calibrated", **ce_bp)
    return out


def run_cached(cache: Path | None, chip: str, method: str, train: dict, seed: int,
               platform: dict | None = None, code: str | None = None) -> dict:
    """One run, read from ``cache`` when this chip, settings and seed already ran (runs are deterministic).

    ``platform``: a physical chip's physics tables (None: examples/chip.toml's defaults); ``code``: the commit the
    benchmark started on (None: the checkout's now).
    """
    if cache is None:
        return run_one(chip, method, train, seed, platform, code)
    where = chip if chip in PHYSICAL_CHIPS else CHIPS[chip]
    key = json.dumps([where if platform is None else [where, platform], sorted(train.items()), seed], sort_keys=True)
    path = cache / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        return {**json.loads(path.read_text()), "chip": chip, "method": method}
    row = run_one(chip, method, train, seed, platform, code)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(row))
    tmp.replace(path)
    return row


def run_one(chip: str, method: str, train: dict, seed: int, platform: dict | None = None,
            code: str | None = None) -> dict:
    code = code or code_version()  # before the run: the code it runs, not the checkout's after it
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.registry import build_model
    from ffzero_photonics.trainer import Trainer

    physical = chip in PHYSICAL_CHIPS
    ports, layers = (PHYSICAL_CHIPS if physical else CHIPS)[chip]
    data = load_dataset("digits", seed=seed, standardize=False)
    model = build_model("photonic", data, seed=seed, ports=ports, layers=layers,
                        **({"model": "physical", **({"physics": platform} if platform else {})} if physical else {}))
    trainer = Trainer(seed=seed, backend="jax", **train)
    t0 = time.perf_counter()
    history = trainer.fit(model, data)
    wall = time.perf_counter() - t0
    val = trainer.evaluate(model, data, "val")
    test = trainer.evaluate(model, data, "test")
    curve = [(r["train_sample_queries"], r.get("val_vote", r["val_score"])) for r in history]
    return {"chip": chip, "method": method, "seed": seed, "val": val["val_accuracy"], "test": test["test_accuracy"],
            "test_last": test["test_accuracy_last"], "queries": trainer.train_cost.sample_queries, "wall": wall,
            "curve": curve, "code": code}


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The commit this checkout runs (``-dirty`` with uncommitted changes), or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=300, help="FFzero epochs per layer (the recipe)")
    ap.add_argument("--long-epochs", default=LONG_EPOCHS,
                    help="the deep chips' longer FFzero budgets, comma-separated: epochs per layer, or EPOCHSxK for K "
                    "directions a step (e.g. 750x16)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed, two chips: a smoke run")
    ap.add_argument("--physical", action="store_true",
                    help="the buildable chip (examples/chip.toml's physics) with 2 and 3 layers instead of the ideal ones")
    ap.add_argument("--platform", metavar="CHIP.toml", help="the buildable chips on this file's physics tables "
                    "(implies --physical; 16- and 25-port chips with 2 and 3 layers)")
    ap.add_argument("--chips", default="", help="only these chips, as PORTSxLAYERS comma-separated (e.g. 16x2); "
                    "the results then go to <prefix>_<chips>.md")
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--cache", default="runs/photonic_accuracy", help="where finished runs are kept")
    ap.add_argument("--fresh", action="store_true", help="run everything again, ignoring the cache")
    args = ap.parse_args()
    try:
        args.long_epochs = parse_budgets(args.long_epochs)
    except ValueError:
        ap.error(f"--long-epochs: expected EPOCHS or EPOCHSxK (positive integers) separated by commas, "
                 f"got {args.long_epochs!r}")
    platform = None
    if args.platform:
        args.physical = True
        platform = load_platform(args.platform, ap)
    chips = dict(PHYSICAL_CHIPS if args.physical else CHIPS)
    known = {f"{n}x{l}": name for name, (n, l) in chips.items()}
    wanted = [c.strip() for c in args.chips.split(",") if c.strip()] if args.chips else \
        list(DEFAULT_PLATFORM_CHIPS if args.physical and platform is None else known)
    bad = [c for c in wanted if c not in known]
    if bad or not wanted:
        ap.error(f"--chips: unknown chip {bad[0] if bad else args.chips!r}; choose from {', '.join(known)}")
    if args.physical and platform is None and set(wanted) - set(DEFAULT_PLATFORM_CHIPS):
        ap.error("--chips: examples/chip.toml's platform cannot power a 25-port chip's heaters (> 15 W); "
                 "pass --platform examples/chip64.toml")
    chips = {known[c]: chips[known[c]] for c in wanted}
    cache = None if args.fresh or args.quick else Path(args.cache)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.epochs, args.long_epochs, args.seeds = 3, ((6, 1),), 1
        chips = {k: chips[k] for k in list(chips)[-2:]}
    t0 = time.perf_counter()
    plan = {(chip, m): train for chip, (n, l) in chips.items()
            for m, train in methods(n, l, args.epochs, args.long_epochs, args.physical, args.platform).items()}
    if args.quick:
        plan = {k: {**v, "epochs": v.get("epochs", 2) if v["paradigm"] == "ffzero" else 2} for k, v in plan.items()}
    code = code_version()  # what every run of this invocation imports (a later commit does not change it)
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {key: [pool.submit(run_cached, cache, *key, train, s, platform, code) for s in range(args.seeds)]
                   for key, train in plan.items()}
        rows = {key: [f.result() for f in fs] for key, fs in futures.items()}
    minutes = (time.perf_counter() - t0) / 60
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = render(rows, chips, args, minutes)
    print(table)
    prefix = ("photonic_accuracy_physical" if args.physical else "photonic_accuracy") + \
        (f"_{Path(args.platform).stem}" if args.platform else "") + \
        ("_" + "_".join(f"{n}x{l}" for n, l in chips.values()) if args.chips else "")
    (out / f"{prefix}.md").write_text(table + "\n")
    write_runs(out / f"{prefix}_runs.csv", rows)
    plot_curves(rows, chips, out / f"{prefix}_curves.png")


def load_platform(path: str, ap: argparse.ArgumentParser) -> dict:
    """The physics tables of a physical CHIP.toml (a bad file: one line from ``ap.error``)."""
    config = physical_config(path, ap, "--platform")
    used = {("chip", "model"), ("chip", "ports"), ("chip", "layers")}
    unused = [f"[{t}] {k}" for t, table in config.to_dict(compact=True).items()
              if t in ("chip", "nonideal", "instrument") for k in table if (t, k) not in used]
    if unused:
        ap.error(f"--platform: {path} sets {unused[0]}, which the benchmark does not use; keep only the physics tables")
    return json.loads(json.dumps(config.physics_tables()))


def physical_config(path: str, ap: argparse.ArgumentParser, flag: str):
    """The ChipConfig of a physical CHIP.toml given to ``flag`` (a missing, bad or non-physical file: one line)."""
    from ffzero_photonics.errors import UserInputError
    from ffzero_photonics.photonic.chip_config import ChipConfig

    try:
        config = ChipConfig.from_toml(path)
    except UserInputError as exc:
        ap.error(f"{flag}: {exc}")
    if not config.is_physical:
        ap.error(f"{flag}: {path} is not a physical chip ([chip] model = \"{config.chip.model}\")")
    return config


def _note(args) -> str:
    if not args.physical:
        return "Digits, ideal photonic chips (the paper's chip), `--backend jax`; "
    if not args.platform:
        return PHYSICAL_NOTE
    return PHYSICAL_NOTE.replace("`examples/chip.toml`'s physics", f"`{args.platform}`'s physics tables")


def _temperatures(physical: bool, platform: str | None) -> str:
    ce, bp = physical_temperatures(platform) if physical else (T_CHOSEN, T_BP_AD)
    known = not physical or not platform or Path(platform).stem in T_PHYSICAL
    return (", ".join(f"N={n}: {t}" for n, t in ce.items()) + "; BP+AD's own "
            + ", ".join(f"N={n}: {t}" for n, t in bp.items())
            + ("" if known else " (examples/chip.toml's; not validated on this platform)"))


def _commits(rows: dict) -> str:
    """Which code the cells ran on: commit -> number of runs (runs cached before commits were recorded: 'unrecorded')."""
    counts: dict[str, int] = {}
    for rs in rows.values():
        for r in rs:
            counts[r.get("code", "unrecorded")] = counts.get(r.get("code", "unrecorded"), 0) + 1
    return "runs per commit: " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _cell(rs: list[dict], key: str = "test") -> str:
    acc = np.array([r[key] for r in rs]) * 100
    return f"{acc.mean():.1f} ± {acc.std(ddof=1):.1f}" if len(acc) > 1 else f"{acc.mean():.1f}"


def render(rows: dict, chips: dict, args, minutes: float) -> str:
    lines = [
        _note(args) +
        f"test accuracy (%) over seeds 0-{args.seeds - 1}, "
        "mean ± std (vote of the layers for FFzero and FF+AD; BP+AD reads the last layer). ce temperatures "
        f"{_temperatures(args.physical, args.platform)} (chosen on validation, seeds 5/6). "
        f"FFzero: {args.epochs} epochs per layer (the recipe), deep chips also "
        f"{', '.join(str(e) + (f' with K = {k} directions a step' if k > 1 else '') for e, k in args.long_epochs)} "
        "(K = 1 unless named); FF+AD 50 epochs per "
        f"layer, BP+AD 200 epochs. The runs took {sum(r['wall'] for rs in rows.values() for r in rs) / 60:.0f} "
        f"core-minutes in all (this invocation {minutes:.1f} min on {args.workers} worker{'s' * (args.workers != 1)}, "
        "finished runs read from "
        f"the cache; {_commits(rows)}).",
        "",
        "| chip | method | test accuracy | last layer | training sample queries | wall time / run |",
        "|---|---|---|---|---|---|",
    ]
    for (chip, method), rs in rows.items():
        lines.append(f"| {chip} | {method} | {_cell(rs)} | {_cell(rs, 'test_last')} | {rs[0]['queries']:,} | "
                     f"{np.mean([r['wall'] for r in rs]):.0f} s |")
    ff_ad, bp_ad = bounds(args.physical)
    lines += ["", f"Gaps (points, mean over seeds): FFzero ce at each budget minus {ff_ad}, and minus {bp_ad}.", "",
              "| chip | FFzero budget (training sample queries) | FFzero − FF+AD | FFzero − BP+AD |", "|---|---|---|---|"]
    mean = lambda rs: 100 * np.mean([r["test"] for r in rs])  # noqa: E731
    for (chip, method), ff in rows.items():
        if method.startswith("FFzero, ce"):
            lines.append(f"| {chip} | {ff[0]['queries']:,} | {mean(ff) - mean(rows[chip, ff_ad]):+.1f} | "
                         f"{mean(ff) - mean(rows[chip, bp_ad]):+.1f} |")
    return "\n".join(lines)


def bounds(physical: bool) -> tuple[str, str]:
    """The methods FFzero's gaps are taken against: the autodiff bounds on the same chip (a fabricated one's exact twin)."""
    suffix = ", calibrated twin" if physical else ""
    return f"FF+AD, ce{suffix}", f"BP+AD, ce{suffix}"


def write_runs(path: Path, rows: dict) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("chip", "method", "seed", "val", "test", "test_last", "queries", "wall_s"))
        for rs in rows.values():
            for r in rs:
                w.writerow((r["chip"], r["method"], r["seed"], f"{r['val']:.4f}", f"{r['test']:.4f}",
                            f"{r['test_last']:.4f}", r["queries"], f"{r['wall']:.1f}"))


def plot_curves(rows: dict, chips: dict, path: Path) -> None:
    """Validation accuracy vs training sample queries of the FFzero runs, one panel per chip (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(chips), figsize=(4 * len(chips), 3.4), squeeze=False)
    for ax, chip in zip(axes[0], chips):
        for (c, method), rs in rows.items():
            if c != chip or not method.startswith("FFzero"):
                continue
            n = min(len(r["curve"]) for r in rs)
            q = np.array([p[0] for p in rs[0]["curve"][:n]])
            acc = np.mean([[p[1] for p in r["curve"][:n]] for r in rs], axis=0) * 100
            ax.plot(q, acc, label=method.replace("FFzero, ", ""))
        for method, style in zip(bounds(chip in PHYSICAL_CHIPS), ("--", ":")):
            ax.axhline(100 * np.mean([r["test"] for r in rows[chip, method]]), ls=style, c="k", lw=1, label=method)
        ax.set(title=chip, xlabel="training sample queries", xscale="log", ylim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
