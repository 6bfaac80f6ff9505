"""The robustness study's pure parts: plan validation and the report written from a tiny list of fake rows."""

import csv
import json
import math

import pytest

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.studies.robustness import StudyPlan, run_robustness
from ffzero_photonics.studies.robustness.plan import ABLATIONS, GRID_METHODS, method_labels
from ffzero_photonics.studies.robustness.report import write_outputs

TINY = dict(effects=("phase_offset",), levels=("high",), multilayer_effects=("thermal",), seeds=2,
            photonic_ablations=("base", "K=4"), mlp_ablations=("base",), mc_instances=3, mc_retrain=1,
            wavelengths=(1.55, 1.6))


@pytest.mark.parametrize("field,value,match", [
    ("epochs", 0, "epochs must be a positive integer, got 0"),
    ("seeds", True, "seeds must be a positive integer, got True"),
    ("lr", -1.0, "lr must be a positive number, got -1.0"),
    ("hw_eps", float("nan"), "hw_eps must be a positive number"),
    ("mc_retrain", -1, "mc_retrain must be a non-negative integer, got -1"),
    ("levels", ("extreme",), "unknown severity level 'extreme'"),
    ("photonic_ablations", ("K=3",), "unknown ablation 'K=3'"),
    ("mlp_ablations", ("dac8",), "ablation 'dac8' changes the chip hardware"),
    ("wavelengths", (3.0,), "wavelengths must lie in"),
])
def test_plan_rejects_bad_values_naming_them(field, value, match):
    with pytest.raises(UserInputError, match=match) as err:
        StudyPlan(**{field: value})
    assert "\n" not in str(err.value)


def test_unknown_study_setting_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(UserInputError, match="unknown study setting 'epoch'"):
        run_robustness(tmp_path / "s", bounded=True, epoch=3, log=lambda m: None)
    assert not (tmp_path / "s").exists()


def test_bounded_plan_overrides_and_round_trips_as_json():
    plan = StudyPlan.bounded(seeds=3)
    assert plan.seeds == 3 and plan.epochs == 40 and plan.levels == ("medium", "high")
    d = plan.to_dict()
    assert json.loads(json.dumps(d)) == d and d["effects"] == list(plan.effects)
    assert StudyPlan(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) == plan
    assert all(v in ABLATIONS for v in (*plan.photonic_ablations, *plan.mlp_ablations))
    assert method_labels(plan)["ffzero"] == "in-situ FFzero ε=0.001 (paper)"


def _fake_rows(plan):
    """Rows shaped like the tasks' results, with accuracies chosen so the tables' numbers are known."""
    acc = {"offline": 0.8, "ffzero": 0.5, "ffzero-hw": 0.7}
    curve = [{"stage": 0, "epoch": e, "val_accuracy": 0.3 + 0.1 * e, "train_sample_queries": 100 * (e + 1),
              "train_settings": 10 * (e + 1), "energy_J": 0.01 * (e + 1)} for e in range(3)]
    insitu = []
    for seed in range(plan.seeds):
        for effect, level, drop in (("ideal", "none", 0.0), ("phase_offset", "high", 0.2)):
            for method in GRID_METHODS:
                a = acc[method] - drop + 0.02 * seed if method != "offline" else acc[method] - 2 * drop + 0.02 * seed
                insitu.append({"study": "grid", "layers": 1, "effect": effect, "level": level, "seed": seed,
                               "method": method, "eps": None, "test_accuracy": a, "test_accuracy_last": a,
                               "test_accuracy_vote": a, "test_accuracy_layer0": a, "train_sample_queries": 1000,
                               "train_settings": 10, "train_calls": 5, "energy_J": 0.5, "wall_s": 1.0, "curve": curve,
                               "params": [[0.0]]})
        for effect, level in (("ideal", "none"), ("thermal", "medium")):
            for method in ("offline", "ffzero-hw", "bp-dd-hw"):
                insitu.append({"study": "multilayer", "layers": 2, "effect": effect, "level": level, "seed": seed,
                               "method": method, "eps": 0.3, "test_accuracy": 0.6, "test_accuracy_last": 0.55,
                               "test_accuracy_vote": 0.6, "test_accuracy_layer0": 0.5, "train_sample_queries": 10,
                               "train_settings": 1, "train_calls": 1, "energy_J": 0.1, "wall_s": 1.0})
    ablations = [{"model": m, "variant": v, "seed": 0, "layers": 2, "hardware": "ideal", "paradigm": "ffzero",
                  "n_dirs": 1, "eps": 1e-3, "lr": 1e-2, "scheme": "central", "prototypes": "onehot",
                  "test_accuracy": 0.9, "test_accuracy_last": 0.85, "test_accuracy_vote": 0.9,
                  "test_accuracy_layer0": 0.8, "train_sample_queries": 2000, "train_settings": 20, "energy_J": 0.0,
                  "wall_s": 1.0, "curve": curve}
                 for m, vs in (("photonic", plan.photonic_ablations), ("mlp", plan.mlp_ablations)) for v in vs]
    mc = [{"instance": k, "method": m, "test_accuracy": a, "test_accuracy_last": a, "test_accuracy_vote": a,
           "test_accuracy_layer0": a}
          for k, (a, b) in enumerate(((0.5, 0.75), (0.65, 0.75), (0.8, 0.75)))
          for m, a in (("offline (BP+AD on twin)", a), ("FFzero in situ on instance 0", b))]
    retrain = [{"instance": 1, "method": "in-situ (scratch)", "epochs": 40, "accuracy_before": None,
                "test_accuracy": 0.7, "test_accuracy_last": 0.7, "test_accuracy_vote": 0.7, "test_accuracy_layer0": 0.7,
                "train_sample_queries": 100, "energy_J": 0.2, "wall_s": 1.0}]
    wl = [{"chip": "ideal chip", "method": "offline (BP+AD on twin)", "wavelength_um": w, "test_accuracy": a,
           "test_accuracy_last": a, "test_accuracy_vote": a, "test_accuracy_layer0": a}
          for w, a in ((1.55, 0.8), (1.6, 0.4))]
    return insitu, ablations, mc, retrain, wl


def test_report_tables_and_headline_from_fake_rows(tmp_path):
    plan = StudyPlan(**TINY)
    insitu, ablations, mc, retrain, wl = _fake_rows(plan)
    head = write_outputs(tmp_path, plan, True, {}, insitu, ablations, mc, retrain, wl, wall=60.0)

    assert head["ideal_offline"] == pytest.approx(0.81) and head["ideal_ffzero_hw"] == pytest.approx(0.71)
    assert head["mc_mean[offline (BP+AD on twin)]"] == pytest.approx((0.5 + 0.65 + 0.8) / 3)
    assert head["retrain_mean[in-situ (scratch)]"] == pytest.approx(0.7)
    grid = (tmp_path / "robustness.md").read_text()
    # phase_offset/high: offline 0.4/0.42, FFzero-hw 0.5/0.52 -> 41.0 ± 1.4 and 51.0 ± 1.4, gap +10.0 pts
    assert "| phase_offset | high | 41.0 ± 1.4 | 31.0 ± 1.4 | 51.0 ± 1.4 | +10.0 |" in grid
    assert "| ideal | – | 81.0 ± 1.4 | 51.0 ± 1.4 | 71.0 ± 1.4 | -10.0 |" in grid
    assert "| thermal | medium | 60.0 ± 0.0 | 60.0 ± 0.0 | 50.0 ± 0.0 | 55.0 ± 0.0 | 60.0 ± 0.0 |" in grid
    summary = list(csv.DictReader((tmp_path / "robustness_summary.csv").open()))
    assert [(r["effect"], r["level"], r["n_seeds"]) for r in summary] == [("ideal", "none", "2"), ("phase_offset", "high", "2")]
    assert float(summary[1]["ffzero-hw_mean"]) == pytest.approx(0.51)
    assert "params" not in (tmp_path / "robustness.csv").read_text().splitlines()[0]
    mc_md = (tmp_path / "monte_carlo.md").read_text()
    assert "| offline (BP+AD on twin) | 65.0 ± 15.0 | 51.5 / 65.0 / 78.5 | 67% | 33% |" in mc_md
    assert "| ideal chip | offline (BP+AD on twin) | 80.0 | 40.0 |" in mc_md
    yields = [r for r in csv.DictReader((tmp_path / "yield.csv").open()) if r["accuracy_threshold"] == "0.6"]
    assert {r["method"]: float(r["yield"]) for r in yields} == {"FFzero in situ on instance 0": 1.0,
                                                                 "offline (BP+AD on twin)": pytest.approx(2 / 3)}
    abl = (tmp_path / "ablations.md").read_text()
    assert "| K=4 | 2 | 90.0 ± 0.0 | 85.0 ± 0.0 | 2e+03 |" in abl
    text = (tmp_path / "summary.md").read_text()
    assert "'high': in-situ beats offline for phase_offset (41% → 51%)" in text
    assert "in 1.0 min" in text and "--bounded" in text
    for name in ("accuracy_vs_severity.png", "accuracy_vs_queries.png", "accuracy_vs_energy.png", "yield_curve.png",
                 "wavelength.png", "ablations.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    curves = list(csv.DictReader((tmp_path / "curves.csv").open()))
    assert {r["run"] for r in curves} >= {"grid 1L ffzero-hw ideal", "ablation 2L base", "ablation 2L K=4"}
    assert not math.isnan(float(curves[0]["val_accuracy"]))


# ---------------------------------------------------------------- the study on a physical chip
def test_physical_plan_takes_physics_presets_and_refuses_normalized_ones():
    from ffzero_photonics.photonic.chip_config import ChipConfig
    from ffzero_photonics.studies.robustness.plan import PHYSICAL_BOUNDED
    from ffzero_photonics.studies.robustness.tasks import _chip, _preset

    physical = ChipConfig.preset("physical").to_dict(compact=True)
    plan = StudyPlan.create(bounded=True, chip_config=physical)
    assert plan.physical and plan.effects == PHYSICAL_BOUNDED["effects"] and "noise30" not in plan.photonic_ablations
    assert StudyPlan.create(bounded=True) == StudyPlan.bounded()  # the paper chip's plan is unchanged
    with pytest.raises(UserInputError, match="unknown physical-chip effect 'shot'"):
        StudyPlan(chip_config=physical, effects=("shot",), photonic_ablations=("base",))
    with pytest.raises(UserInputError, match="ablation 'noise30' uses a normalized preset"):
        StudyPlan.bounded(chip_config=physical, photonic_ablations=("noise30",))
    with pytest.raises(UserInputError, match="chip_config is for a physical chip"):
        StudyPlan.bounded(chip_config={"chip": {"ports": 4}})
    chip = _chip(plan, 0, 1, _preset(plan, "laser", "high"))
    assert chip.physics.budget.laser_power_mW == 0.1 and chip.physics.thermal.positions == "layout"
    assert _chip(plan, 0, 1, _preset(plan, "ideal", "none")).physics.budget.laser_power_mW == 10.0


def test_bounded_study_runs_on_the_physical_chip(tmp_path):
    """Tiny: one seed, one epoch, two physics effects at one level, on a 1-layer 16-port physical chip."""
    from ffzero_photonics.photonic.chip_config import ChipConfig

    physical = ChipConfig.preset("physical").to_dict(compact=True)
    head = run_robustness(tmp_path, chip_config=physical, ports=16, layers=1, effects=("laser", "dac"),
                          levels=("high",), epochs=1, offline_epochs=1, seeds=1, multilayer_effects=(),
                          photonic_ablations=("base",), mlp_ablations=("base",), ablation_seeds=1, ablation_epochs=1,
                          mc_instances=2, mc_retrain=0, wavelengths=(1.55,), workers=1, log=lambda m: None)
    assert 0 < head["ideal_offline"] <= 1
    rows = list(csv.DictReader((tmp_path / "robustness_summary.csv").open()))
    assert [(r["effect"], r["level"]) for r in rows] == [("ideal", "none"), ("laser", "high"), ("dac", "high")]
    assert json.loads((tmp_path / "plan.json").read_text())["chip_config"]["chip"]["model"] == "physical"
    summary = (tmp_path / "summary.md").read_text()
    assert "the physical chip of the given CHIP.toml" in summary and "laser_power_mW=0.1" in summary


# ---------------------------------------------------------------- grid options (effects, levels, methods, epochs)
@pytest.mark.parametrize("field,value,match", [
    ("methods", ("offline",), "need an in-situ method"),
    ("methods", ("offline", "bp"), "methods must be distinct names from offline, ffzero, ffzero-hw, got"),
    ("methods", ("ffzero", "ffzero"), "methods must be distinct names"),
    ("effect_levels", (("dac", ("high",)),), "effect_levels names effect 'dac', which is not in effects"),
    ("effect_levels", (("phase_offset", ("worst",)),), "unknown severity level 'worst'"),
    ("mc_instances", -1, "mc_instances must be a non-negative integer, got -1"),
])
def test_grid_selection_is_validated_naming_the_bad_value(field, value, match):
    with pytest.raises(UserInputError, match=match) as err:
        StudyPlan(**{**TINY, field: value})
    assert "\n" not in str(err.value)


def test_effect_levels_choose_each_effects_own_severities_and_round_trip():
    plan = StudyPlan(**{**TINY, "effects": ("phase_offset", "dac"), "levels": ("medium", "high"),
                        "effect_levels": (("dac", ["low"]),), "methods": ("offline", "ffzero-hw")})
    assert plan.grid_cells() == [("phase_offset", "medium"), ("phase_offset", "high"), ("dac", "low")]
    assert plan.offline_partner() == "ffzero-hw" and StudyPlan(**TINY).offline_partner() == "ffzero"
    d = plan.to_dict()
    assert StudyPlan(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) == plan


@pytest.mark.parametrize("args,match", [
    (["--effects", "laser,,drift"], "--effects must be comma-separated names"),
    (["--effects", "drift:medium/"], "--effects item 'drift:medium/' must be EFFECT or EFFECT:LEVEL/LEVEL"),
    (["--effects", "drift,drift:high"], "--effects names an effect twice"),
    (["--methods", "offline"], "need an in-situ method"),
    (["--effects", "shot"], "unknown physical-chip effect 'shot'"),
    (["--levels", "medium,extreme"], "unknown severity level 'extreme'"),
])
def test_cli_grid_options_refuse_bad_values_in_one_line(tmp_path, capsys, args, match):
    from ffzero_photonics.cli import main

    out = tmp_path / "s"
    assert main(["study", "robustness", "--out", str(out), "--chip-config", "examples/chip.toml", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err and not out.exists()


def test_cli_grid_only_study_on_the_physical_chip(tmp_path):
    """The options end to end: two effects with their own levels, offline vs FFzero-hw only, 1 epoch, no extras."""
    from ffzero_photonics.cli import main

    chip = tmp_path / "chip.toml"
    chip.write_text('[chip]\nmodel = "physical"\nports = 10\nlayers = 1\n[thermal]\npositions = "grid"\n')
    out = tmp_path / "s"
    assert main(["study", "robustness", "--out", str(out), "--chip-config", str(chip), "--seeds", "1",
                 "--workers", "1", "--effects", "laser:high,drift:high", "--methods", "offline,ffzero-hw",
                 "--epochs", "1", "--offline-epochs", "1", "--grid-only"]) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["methods"] == ["offline", "ffzero-hw"] and plan["epochs"] == 1 and plan["mc_instances"] == 0
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    assert sorted({(r["effect"], r["level"], r["method"]) for r in rows}) == [
        ("drift", "high", "ffzero-hw"), ("drift", "high", "offline"), ("ideal", "none", "ffzero-hw"),
        ("ideal", "none", "offline"), ("laser", "high", "ffzero-hw"), ("laser", "high", "offline")]
    assert len(rows) == 6 and all(float(r["lab_time_s"]) > 0 for r in rows)
    summary = list(csv.DictReader((out / "robustness_summary.csv").open()))
    assert [(r["effect"], r["setting"], r["n_seeds"]) for r in summary] == [
        ("ideal", "as configured", "1"), ("laser", "laser_power_mW=0.1", "1"),
        ("drift", "drift_sigma_rad_per_sqrt_s=0.1", "1")]
    grid = (out / "robustness.md").read_text()
    assert "## Accuracy vs laser power" in grid and "| 0.1 | high |" in grid and "| 10 | baseline |" in grid
    assert "(paper)" not in grid and (out / "accuracy_vs_laser.png").stat().st_size > 1000
    assert not any((out / n).exists() for n in ("monte_carlo.csv", "ablations.md", "wavelength.csv", "yield_curve.png"))


# ---------------------------------------------------------------- the 64-port physical chip
def test_chip64_example_closes_its_power_budget():
    """examples/chip64.toml: one 64-port mesh whose heaters fit the power limit and whose detectors see light."""
    from ffzero_photonics.chip_factory import build_chip_from_config
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.photonic.budget_report import power_budget
    from ffzero_photonics.photonic.chip_config import ChipConfig

    config = ChipConfig.from_toml("examples/chip64.toml")
    assert (config.chip.ports, config.chip.layers, config.is_physical) == (64, 1, True)
    data = load_dataset("digits", seed=0, standardize=False)
    report = power_budget(build_chip_from_config(config, data), data.X_test[:64])
    layer = report["layers"][0]
    assert report["heater_power_W"] < 0.2 * report["max_total_power_W"]  # the 2 x 16 chip.toml's draws 8.5 W of 15
    assert layer["mesh_loss_dB"] < 45 and layer["snr_dB"] > 5  # 92.9 dB and -97 dB with chip.toml's tables at N = 64
    assert layer["mean_detector_power_dBm"] > -65
