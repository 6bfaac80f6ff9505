"""The robustness study's outputs: CSV rows, markdown tables, findings and ``summary.md``.

Everything here is computed from the rows the tasks return; figures.py draws the plots.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...photonic.nonideal_config import PRESET_VALUES

from ...photonic.chip_config import ChipConfig
from ...photonic.effects import EnergyModel
from ...photonic.physics.budget import Budget
from ...photonic.nonideal_config import LEVELS, PHYSICAL_PRESET_VALUES, physical_preset
from . import figures
from .plan import GRID_METHODS, IDEAL, StudyPlan, method_labels


def _mean_std(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _fmt(m: float, s: float) -> str:
    if math.isnan(m):
        return "–"
    return f"{100 * m:.1f} ± {100 * s:.1f}"


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and k not in ("curve", "params")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items() if k in keys})
    path.write_text(buf.getvalue())


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _summarize(rows: list[dict], keys: tuple[str, ...], value: str = "test_accuracy") -> dict[tuple, tuple[float, float, int]]:
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r[value])
    return {k: (*_mean_std(v), len(v)) for k, v in groups.items()}


def _preset_table(physical: bool = False) -> str:
    rows = []
    for effect, levels in (PHYSICAL_PRESET_VALUES if physical else PRESET_VALUES).items():
        cells = []
        for lv in levels:
            parts = [f"{k}={_short(v)}" for sec in lv.values() for k, v in _flat(sec).items()]
            cells.append(", ".join(parts))
        rows.append([effect, *cells])
    return _md_table(["effect", "low", "medium", "high"], rows)


def _flat(table: dict) -> dict:
    """A preset's keys, sub-tables' keys brought up (``[nonideal.fabrication]`` in a physical preset)."""
    return {k: v for key, value in table.items()
            for k, v in (_flat(value).items() if isinstance(value, dict) else [(key, value)])}


def _short(v: Any) -> str:
    if isinstance(v, float):
        if abs(v - math.pi) < 1e-12:
            return "π"
        return f"{v:g}"
    return str(v)


def write_outputs(out: Path, plan: StudyPlan, bounded: bool, offline: dict, insitu: list[dict], ablations: list[dict],
                   mc: list[dict], retrain: list[dict], wl: list[dict], wall: float) -> dict[str, Any]:
    """Write every CSV, table, figure and ``summary.md`` of the study into ``out``; returns the headline numbers."""
    _write_csv(out / "robustness.csv", insitu)
    grid = [r for r in insitu if r["study"] == "grid"]
    multi = [r for r in insitu if r["study"] == "multilayer"]
    summ = _summarize(grid, ("effect", "level", "method"))
    lab_s = _summarize([r for r in grid if r.get("lab_time_s") is not None and r["method"] != "offline"],
                       ("effect", "level"), "lab_time_s")
    nan3 = (float("nan"),) * 3
    methods = plan.methods
    ideal = {m: summ.get(("ideal", "none", m), nan3) for m in GRID_METHODS}
    sum_rows, md_rows = [], []
    for effect, lv in [IDEAL] + plan.grid_cells():
        cell = {m: summ.get((effect, lv, m), nan3) for m in GRID_METHODS}
        n_seeds = max(cell[m][2] if not math.isnan(cell[m][2]) else 0 for m in methods)
        row = {"effect": effect, "level": lv, "n_seeds": n_seeds}
        if plan.physical:
            row["setting"] = physical_setting(effect, lv)
            row["lab_time_s"] = lab_s.get((effect, lv), nan3)[0]
        for m in methods:
            row[f"{m}_mean"], row[f"{m}_std"] = cell[m][0], cell[m][1]
        sum_rows.append(row)
        best = max((cell[m][0] for m in ("ffzero", "ffzero-hw") if m in methods), default=float("nan"))
        gap = best - cell["offline"][0]
        extra = [row["setting"], f"{row['lab_time_s']:.3g}"] if plan.physical else []
        md_rows.append([effect, "–" if lv == "none" else lv, *extra, *(_fmt(*cell[m][:2]) for m in methods),
                        "–" if math.isnan(gap) else f"{100 * gap:+.1f}"])
    _write_csv(out / "robustness_summary.csv", sum_rows)
    extra_head = ["setting", "lab time (s)"] if plan.physical else []
    grid_md = _md_table(["effect", "severity", *extra_head, *(method_labels(plan)[m] for m in methods),
                         "best in-situ − offline (pts)"], md_rows)
    laser = laser_points(plan, summ) if plan.physical and "laser" in plan.effects else []
    laser_md = _laser_table(plan, laser) if laser else ""
    multi_md = ""
    if multi:
        ms = _summarize(multi, ("effect", "level", "method"))
        ms_last = _summarize(multi, ("effect", "level", "method"), "test_accuracy_last")
        ms_l0 = _summarize(multi, ("effect", "level", "method"), "test_accuracy_layer0")
        mrows = []
        for e, lv in [IDEAL] + [(e, plan.multilayer_level) for e in plan.multilayer_effects]:
            mrows.append([e, lv, _fmt(*ms.get((e, lv, "offline"), nan3)[:2]),
                          _fmt(*ms.get((e, lv, "ffzero-hw"), nan3)[:2]),
                          _fmt(*ms_l0.get((e, lv, "ffzero-hw"), nan3)[:2]),
                          _fmt(*ms_last.get((e, lv, "ffzero-hw"), nan3)[:2]),
                          _fmt(*ms.get((e, lv, "bp-dd-hw"), nan3)[:2])])
        multi_md = _md_table(["effect", "severity", "offline BP+AD → chip", f"FFzero ε={plan.hw_eps:g} (vote)",
                              "FFzero layer 0 (taps)", "FFzero layer 1", f"BP+DD ε={plan.hw_eps:g}"], mrows)
    (out / "robustness.md").write_text(
        f"# Test accuracy (%) under non-idealities, mean ± std over {plan.seeds} seed(s)\n\n"
        f"{plan.ports}-port {plan.layers}-layer Clements chip, {_pooling(plan)} digits.\n\n" + grid_md
        + (f"\n## Accuracy vs laser power\n\n{laser_md}" if laser_md else "")
        + (f"\n## Two-layer chip ({plan.multilayer_level} severity)\n\n" + multi_md if multi_md else ""))

    abl_md, abl_summary = _ablation_tables(plan, ablations)
    if ablations_run(plan):  # a --grid-only study writes none of the optional tables
        _write_csv(out / "ablations.csv", ablations)
        (out / "ablations.md").write_text(abl_md)

    curves = []
    for r in grid + multi:
        if r.get("curve") and r["seed"] == 0 and (r["effect"], r["level"]) in (IDEAL, (plan.mc_effect, plan.mc_level)):
            name = f"{r['study']} {r['layers']}L {r['method']} {r['effect']}"
            curves += [{"run": name, "seed": r["seed"], **c} for c in r["curve"]]
    for r in ablations:
        if r["model"] == "photonic" and r["variant"] in ("base", "K=4", "K=16", "global") and r["seed"] == 0:
            curves += [{"run": f"ablation 2L {r['variant']}", "seed": r["seed"], **c} for c in r["curve"]]
    _write_csv(out / "curves.csv", curves)

    mc_md, yield_rows, mc_head = _mc_tables(plan, mc, retrain, wl)
    for name, rows in (("monte_carlo.csv", mc), ("monte_carlo_retrain.csv", retrain), ("yield.csv", yield_rows),
                       ("wavelength.csv", wl)):
        if rows or plan.mc_instances:
            _write_csv(out / name, rows)
    if plan.mc_instances or plan.wavelengths:
        (out / "monte_carlo.md").write_text(mc_md)

    figures.plot_severity(out / "accuracy_vs_severity.png", plan, summ, ideal)
    if laser_md:
        figures.plot_laser(out / "accuracy_vs_laser.png", plan, laser)
    figures.plot_curves(out / "accuracy_vs_queries.png", curves, "train_sample_queries", "training sample queries")
    figures.plot_curves(out / "accuracy_vs_energy.png", curves, "energy_J", "heater energy during training (J)")
    for plot, name, rows in ((figures.plot_yield, "yield_curve.png", yield_rows), (figures.plot_wavelength, "wavelength.png", wl),
                             (figures.plot_ablations, "ablations.png", abl_summary)):
        if rows:  # a --grid-only study has none of these
            plot(out / name, rows)

    findings = _findings(plan, summ, ideal, multi, mc_head, abl_summary)
    twin = _mean_std([r["test_accuracy"] for (_, layers), r in offline.items() if layers == plan.layers])
    if not math.isnan(twin[0]):
        findings.insert(1, f"Offline BP+AD right after training, on the baseline chip whose twin it trained on (no lab time "
                           f"elapsed): {_fmt(*twin)}%.")
    if laser_md:
        grid_md += "\n### Accuracy vs laser power (`accuracy_vs_laser.png`)\n\n" + laser_md
    (out / "summary.md").write_text(_summary_md(plan, bounded, wall, grid_md, multi_md, abl_md, mc_md, findings))
    return {"ideal_offline": ideal["offline"][0], "ideal_ffzero": ideal["ffzero"][0],
            "ideal_ffzero_hw": ideal["ffzero-hw"][0], **mc_head}


def _ablation_tables(plan: StudyPlan, rows: list[dict]) -> tuple[str, dict]:
    s = _summarize(rows, ("model", "variant"))
    s_last = _summarize(rows, ("model", "variant"), "test_accuracy_last")
    s_q = _summarize(rows, ("model", "variant"), "train_sample_queries")
    text = f"# FFzero ablations, test accuracy %, mean ± std over {plan.ablation_seeds} seed(s)\n\n"
    text += (f"Photonic: ideal 16-port 2-layer chip (so that vote vs last layer and local vs global mean something), "
             f"{plan.ablation_epochs} epochs per layer; variants marked 'dac8' (8-bit heater DAC) or 'noise30' "
             f"(shot + thermal noise at 30 dB SNR) run on the {plan.layers}-layer grid chip with that hardware. "
             f"Digital: MLP 64-{'-'.join(map(str, plan.mlp_hidden))}-10 (tanh), {plan.ablation_epochs} epochs per layer. "
             "Base recipe: K=1 sphere direction, eps=1e-3, Adam lr=1e-2 cosine, batch 16, central differences, "
             "default prototypes (one-hot for power readouts, simplex for the MLP; 'prototypes' swaps them), "
             "local losses, vote. 'global' = BP+DD (one loss on the last layer, epochs x layers).\n\n")
    layers = {(r["model"], r["variant"]): r.get("layers") for r in rows}
    for model, variants in (("photonic", plan.photonic_ablations), ("mlp", plan.mlp_ablations)):
        table = []
        for v in variants:
            if (model, v) not in s:
                continue
            table.append([v, layers[model, v], _fmt(*s[model, v][:2]), _fmt(*s_last[model, v][:2]),
                          f"{s_q[model, v][0]:.3g}"])
        text += f"## {model}\n\n" + _md_table(
            ["variant", "layers", "accuracy (vote; global: last)", "last layer", "training sample queries"], table) + "\n"
    return text, s


def _mc_tables(plan: StudyPlan, mc: list[dict], retrain: list[dict], wl: list[dict]) -> tuple[str, list[dict], dict]:
    methods = sorted({r["method"] for r in mc})
    xs = np.round(np.linspace(0.0, 1.0, 101), 2)
    yield_rows = []
    head: dict[str, Any] = {}
    table = []
    for m in methods:
        acc = np.array([r["test_accuracy"] for r in mc if r["method"] == m])
        for x in xs:
            yield_rows.append({"method": m, "accuracy_threshold": float(x), "yield": float(np.mean(acc >= x - 1e-12))})
        q = np.percentile(acc, [5, 50, 95])
        table.append([m, f"{100 * acc.mean():.1f} ± {100 * acc.std(ddof=1 if acc.size > 1 else 0):.1f}",
                      f"{100 * q[0]:.1f} / {100 * q[1]:.1f} / {100 * q[2]:.1f}",
                      f"{100 * np.mean(acc >= 0.6):.0f}%", f"{100 * np.mean(acc >= 0.7):.0f}%"])
        head[f"mc_mean[{m}]"] = float(acc.mean())
    text = (f"# Monte Carlo: one trained design on {plan.mc_instances} fabricated instances "
            f"({plan.mc_effect} non-idealities, {plan.mc_level})\n\n"
            + _md_table(["phases", "accuracy %", "p5 / median / p95", "yield ≥60%", "yield ≥70%"], table))
    if retrain:
        rs = _summarize(retrain, ("method",))
        before = _summarize([r for r in retrain if r["accuracy_before"] is not None], ("method",), "accuracy_before")
        rt = []
        for (m,), (mean, std, n) in rs.items():
            b = before.get((m,))
            ep = retrain[[r["method"] for r in retrain].index(m)]["epochs"]
            rt.append([m, ep, n, _fmt(mean, std), _fmt(*b[:2]) if b else "–"])
            head[f"retrain_mean[{m}]"] = mean
        text += ("\n## Training each instance in situ instead\n\n"
                 + _md_table(["method", "epochs", "instances", "accuracy % after", "accuracy % before (offline phases)"], rt))
    if wl:
        chips = []
        for r in wl:
            if (r["chip"], r["method"]) not in chips:
                chips.append((r["chip"], r["method"]))
        wls = sorted({r["wavelength_um"] for r in wl})
        rows = []
        for c, m in chips:
            vals = {r["wavelength_um"]: r["test_accuracy"] for r in wl if r["chip"] == c and r["method"] == m}
            rows.append([c, m] + [f"{100 * vals[w]:.1f}" for w in wls])
        text += ("\n## Wavelength sweep (phases set at 1.55 um), test accuracy %\n\n"
                 + _md_table(["chip", "phases"] + [f"{1000 * w:.0f} nm" for w in wls], rows))
    return text, yield_rows, head


def _findings(plan, summ, ideal, multi, mc_head, abl) -> list[str]:
    f = []
    hw = f"ε={plan.hw_eps:g}"
    chip = "Baseline chip (the CHIP.toml as given)" if plan.physical else "Ideal chip"
    f.append(f"{chip}: offline BP+AD {100 * ideal['offline'][0]:.1f}%, in-situ FFzero {100 * ideal['ffzero'][0]:.1f}% "
             f"(ε={plan.eps:g}) / {100 * ideal['ffzero-hw'][0]:.1f}% ({hw}) after {plan.epochs} epochs."
             .replace("nan%", "not run"))
    nan3 = (float("nan"),) * 3
    cells = plan.grid_cells()
    for lv in [lv for lv in LEVELS if any(c[1] == lv for c in cells)]:
        rows = []
        for e in [e for e, l in cells if l == lv]:
            off, ff, hwv = (summ.get((e, lv, m), nan3 if m not in plan.methods else None) for m in GRID_METHODS)
            if off and ff and hwv:
                rows.append((e, off[0], ff[0], hwv[0]))
        if not rows:
            continue
        rows = [(e, o, a, b, np.nanmax([a, b])) for e, o, a, b in rows]
        wins = [r for r in rows if r[4] - r[1] > 0.02]
        loses = [r for r in rows if r[4] - r[1] < -0.02]
        paper_broken = [r for r in rows if r[2] < ideal["ffzero"][0] - 0.1]
        text = f"'{lv}': in-situ beats offline for " + (", ".join(
            f"{e} ({100 * o:.0f}% → {100 * m:.0f}%)" for e, o, a, b, m in wins) or "none")
        text += "; offline is better for " + (", ".join(
            f"{e} ({100 * o:.0f}% vs {100 * m:.0f}%)" for e, o, a, b, m in loses) or "none")
        if "ffzero" in plan.methods:
            text += f"; FFzero with the paper's ε={plan.eps:g} loses >10 pts for " + (", ".join(
                f"{e} ({100 * a:.0f}%, {hw}: {100 * b:.0f}%)" for e, o, a, b, _ in paper_broken) or "none")
        text += "."
        f.append(text)
    for k, v in mc_head.items():
        if k.startswith("mc_mean"):
            f.append(f"Monte Carlo ({plan.mc_effect}:{plan.mc_level}), {k[8:-1]}: {100 * v:.1f}% mean over instances.")
        if k.startswith("retrain_mean"):
            f.append(f"Per-instance {k[13:-1]}: {100 * v:.1f}% mean.")
    if multi:
        ms = _summarize(multi, ("effect", "level", "method"))
        for (e, lv, m), (mean, _, _) in sorted(ms.items()):
            if m == "bp-dd-hw" and (e, lv, "ffzero-hw") in ms:
                f.append(f"2-layer chip, {e} ({lv}): FFzero {100 * ms[e, lv, 'ffzero-hw'][0]:.1f}% vs BP+DD {100 * mean:.1f}%"
                         + (f" vs offline {100 * ms[e, lv, 'offline'][0]:.1f}%" if (e, lv, "offline") in ms else "") + ".")
    return f


def _summary_md(plan, bounded, wall, grid_md, multi_md, abl_md, mc_md, findings) -> str:
    em = EnergyModel()
    return f"""# Robustness of forward-only (FFzero) training on non-ideal photonic chips

Generated by `ffzero study robustness{' --bounded' if bounded else ''}` in {wall / 60:.1f} min
({plan.workers} worker processes). Plan: `plan.json`.

## Setup

{_chip_line(plan)}
- In situ: FFzero, batch {plan.batch_size}, Adam lr {plan.lr:g}, cosine schedule, {plan.epochs} epochs per layer, K=1,
  trained through `query` on the non-ideal chip (it sees only heater settings and detector readings), with the
  paper's finite-difference step ε={plan.eps:g} and with ε={plan.hw_eps:g} (a unit-norm direction over P heaters moves
  each heater by ~ε/√P: 6e-5 rad vs 0.02 rad on the 16-port mesh; the former is below any DAC step and noise floor).
  The two-layer subset, the Monte Carlo retraining and the wavelength sweep use ε={plan.hw_eps:g}.
- Offline: BP+AD on the ideal digital twin ({plan.offline_epochs} epochs, lr {plan.offline_lr:g}); the learned phases are
  programmed (`set_params`) onto the same non-ideal instance and evaluated after the same number of query calls
  as the in-situ run took (so drift has acted equally long).
- Seeds: {plan.seeds} (seed = chip design/instance, data split and trainer seed). Test accuracy, mean ± sample std.
- Energy model: every evaluated setting holds all heaters for {em.settle_s * 1e6:g} µs settling + {em.sample_s * 1e6:g} µs per
  sample; heater power {"from the chip's [heaters] table (its P_pi and drive)" if plan.physical else
  "P = P_pi·phase/π with P_pi = 20 mW"}.
{f"- Monte Carlo: the seed-0 design, {plan.mc_instances} fabricated instances under `{plan.mc_effect}:{plan.mc_level}`."
 if plan.mc_instances else "- No Monte Carlo, ablations or wavelength sweep (`--grid-only`)." if not ablations_run(plan) else ""}

## Non-ideality presets

{_preset_table(plan.physical)}
{_preset_notes(plan)}

## Findings (computed from the tables below)

""" + "\n".join(f"- {x}" for x in findings) + f"""

## Robustness grid

{grid_md}
{('### Two-layer chip (' + plan.multilayer_level + ')' + chr(10) + chr(10) + multi_md) if multi_md else ''}
Plots: `accuracy_vs_severity.png`, `accuracy_vs_queries.png`, `accuracy_vs_energy.png`{_extras(plan, "png")}.
Raw rows: `robustness.csv`, `robustness_summary.csv`, `curves.csv`{_extras(plan, "csv")}.

{_demote(abl_md) if ablations_run(plan) else ''}
{_demote(mc_md) if plan.mc_instances or plan.wavelengths else ''}
"""


def _chip_line(plan) -> str:
    if not plan.physical:
        return (f"- Chip: {plan.ports}-port Clements mesh, {plan.layers} layer(s), {_pooling(plan)} digits (raw pixels, "
                "unit-power encoding).")
    return (f"- Chip: the physical chip of the given CHIP.toml at {plan.ports} ports, {plan.layers} layer(s) (SI units: "
            "laser mW, bounded heater drives, detector noise, layout crosstalk, lab-time drift; the drawn coherent "
            f"input), {_pooling(plan)} digits. Its 'ideal' row is that chip as configured (the baseline), not a perfect "
            "chip. 'lab time' is the modelled seconds an in-situ training took on it (settling, integration, latency); "
            "drift acts over them, and the offline phases are evaluated after the same seconds.")


def _preset_notes(plan) -> str:
    if plan.physical:
        return ("Physics tables laid over the CHIP.toml ([budget], [heaters], [thermal], [clock], and "
                "[nonideal.fabrication] for coupler/loss); \"combined\" = every preset at that level. Detector noise follows "
                "from the laser power: no free SNR.")
    return ('"noise" = shot + thermal at the same SNR; "combined" = every preset at that level (shot+thermal included).\n'
            "SNRs are 20·log10(P/σ) at P_ref = P_in/N (the mean output-detector power of the first mesh); monitor taps and\n"
            "deeper layers receive less light, so they see a lower SNR from the same detectors.")


def _demote(md: str) -> str:
    return "\n".join("#" + line if line.startswith("#") else line for line in md.splitlines()) + "\n"


def _extras(plan: StudyPlan, kind: str) -> str:
    """The optional outputs' names (ablations, Monte Carlo, wavelength sweep) that this plan writes."""
    names = {"png": [("yield_curve.png", plan.mc_instances), ("wavelength.png", plan.wavelengths),
                     ("ablations.png", ablations_run(plan))],
             "csv": [("ablations.csv", ablations_run(plan)), ("monte_carlo.csv", plan.mc_instances),
                     ("monte_carlo_retrain.csv", plan.mc_retrain), ("yield.csv", plan.mc_instances),
                     ("wavelength.csv", plan.wavelengths)]}[kind]
    return "".join(f", `{n}`" for n, on in names if on)


def ablations_run(plan: StudyPlan) -> bool:
    return bool(plan.ablation_seeds and (plan.photonic_ablations or plan.mlp_ablations))


def _pooling(plan: StudyPlan) -> str:
    """How the 8x8 digits reach the ports: 4x4-pooled on 16 ports, as they are on 64."""
    return {16: "4x4-pooled", 64: "8x8"}.get(plan.ports, f"{plan.ports}-port resampled")


def physical_setting(effect: str, level: str) -> str:
    """The physics values a physical grid cell sets, e.g. ``laser_power_mW=0.1`` ('as configured' for the baseline)."""
    if (effect, level) == IDEAL:
        return "as configured"
    if effect == "combined":
        return "all at " + level
    return ", ".join(f"{k}={_short(v)}" for sec in physical_preset(effect, level).values() for k, v in _flat(sec).items())


def laser_points(plan: StudyPlan, summ: dict) -> list[tuple[float, str, dict[str, tuple[float, float]]]]:
    """(laser mW at the fibre, cell, {method: (mean, std)}): the baseline's power and the laser cells, highest first."""
    nan3 = (float("nan"),) * 3
    base_mW = ChipConfig.from_dict(plan.chip_config).physics_tables().get("budget", {}).get("laser_power_mW",
                                                                                         Budget.laser_power_mW)
    points = [(base_mW, IDEAL)]
    points += [(physical_preset("laser", lv)["budget"]["laser_power_mW"], ("laser", lv)) for lv in plan.levels_of("laser")]
    out, seen = [], set()
    for mW, cell in sorted(points, key=lambda p: -p[0]):  # stable: the baseline wins a tie with a laser cell
        if mW not in seen:
            seen.add(mW)
            out.append((mW, "baseline" if cell == IDEAL else cell[1],
                        {m: summ.get((*cell, m), nan3)[:2] for m in plan.methods}))
    return out


def _laser_table(plan: StudyPlan, points) -> str:
    return _md_table(["laser (mW)", "cell", *(method_labels(plan)[m] for m in plan.methods)],
                     [[f"{mW:g}", cell, *(_fmt(*acc[m]) for m in plan.methods)] for mW, cell, acc in points])
