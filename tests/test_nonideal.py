"""Non-ideal chips: every effect does what its physics says, the all-off chip is the ideal one, configs round-trip."""

import json
import math
import os

import jax
import numpy as np
import pytest

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.photonic.chip_config import ChipConfig
from ffzero_photonics.photonic.nonideal_config import EFFECTS, LEVELS, Crosstalk, Detection, Drift, Drive, Fabrication, NonIdealConfig, parse_preset, severity_preset
from ffzero_photonics.photonic.effects import apply_crosstalk, couplings_at_wavelength, crosstalk_matrix, draw_responsivity, drive_phases, effect_rng, grid_heater_positions

N = 16
X = np.random.default_rng(7).random((6, N))


def chip(layers=1, **kw):
    return PhotonicChip(N, ports=N, layers=layers, seed=3, **kw)


def outputs(c):
    return [c.query(X, l)[0] for l in range(c.n_layers)]


# ---------------------------------------------------------------- the ideal limit
@pytest.mark.parametrize(
    "nonideal",
    [
        None,
        {},
        NonIdealConfig(),
        {"crosstalk": {"kappa": 0.0, "decay_length_um": 10.0}},
        {"fabrication": {"phase_offset_std": 0.0}, "drift": {"sigma": 0.0}, "drive": {"p_pi_mW": 30.0}},
    ],
)
def test_all_off_is_bitwise_the_ideal_chip(nonideal):
    ideal, other = chip(2), chip(2, nonideal=nonideal)
    assert other.is_ideal
    cand = {1: np.random.default_rng(0).uniform(0, 7, (3, ideal.layer_info(1).n_params))}
    for a, b in zip(outputs(ideal) + [ideal.query(X, 1, cand)], outputs(other) + [other.query(X, 1, cand)]):
        assert np.array_equal(a, b)
    assert np.array_equal(ideal.unitary(0), other.unitary(0))


def test_physical_pipeline_with_every_effect_at_zero_matches_the_ideal_chip():
    ideal, forced = chip(2), chip(2)
    forced._ideal_path = False  # run the non-ideal pipeline with nothing switched on
    for a, b in zip(outputs(ideal), outputs(forced)):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-15)


def test_twin_stays_ideal_and_ideal_copy_programs_the_same_phases():
    c = chip(2, nonideal=severity_preset("combined", "high"))
    ideal = c.ideal_copy()
    assert ideal.is_ideal and not c.is_ideal
    with jax.enable_x64(True):
        twin = c.twin_forward(c.twin_params(), X)
    for l in range(2):
        np.testing.assert_allclose(np.asarray(twin[l]), ideal.query(X, l)[0], atol=1e-12)
        np.testing.assert_array_equal(ideal.get_params(l), c.get_params(l))
    assert not np.allclose(c.query(X, 1)[0], ideal.query(X, 1)[0])


# ---------------------------------------------------------------- fabrication
def test_column_loss_lowers_total_output_power_by_the_stated_dB():
    loss = 0.07
    ideal, lossy = chip(), chip(nonideal={"fabrication": {"column_loss_dB": loss}})
    ratio = lossy.query(X, 0)[0].sum(1) / ideal.query(X, 0)[0].sum(1)
    np.testing.assert_allclose(10 * np.log10(ratio), -loss * ideal.specs[0].n_columns, rtol=1e-12)


def test_mzi_loss_attenuates_each_path_by_its_number_of_mzis():
    loss = 0.2
    c = chip(init="identity", nonideal={"fabrication": {"mzi_loss_dB": loss}})  # every MZI in bar state
    power = np.abs(c.unitary(0)) ** 2
    np.testing.assert_allclose(power, np.diag(np.diag(power)), atol=1e-14)
    # Clements: an edge port meets an MZI every other column, an inner port every column
    expected = np.full(N, 10 ** (-N * loss / 10))
    expected[[0, N - 1]] = 10 ** (-(N // 2) * loss / 10)
    np.testing.assert_allclose(np.diag(power), expected, rtol=1e-12)
    total = np.sum(np.abs(chip(nonideal={"fabrication": {"mzi_loss_dB": loss}}).unitary(0)) ** 2, axis=0)
    assert np.all(total <= expected.max() + 1e-12) and np.all(total >= expected.min() - 1e-12)


def test_coupler_errors_keep_the_mesh_lossless_but_perturb_it_to_first_order():
    base = chip()
    u0 = base.unitary(0)
    dev = []
    for std in (0.005, 0.01, 0.02):
        u = chip(nonideal={"fabrication": {"coupler_std": std}}).unitary(0)
        np.testing.assert_allclose(u.conj().T @ u, np.eye(N), atol=1e-12)  # lossless couplers: still unitary
        dev.append(np.linalg.norm(u - u0))
    assert 1.7 < dev[1] / dev[0] < 2.3 and 1.7 < dev[2] / dev[1] < 2.3  # same draws, scaled: linear in std


def test_coupler_errors_limit_extinction_to_second_order():
    leak = []
    for std in (0.005, 0.01):
        c = chip(init="identity", nonideal={"fabrication": {"coupler_std": std}})
        p = np.abs(c.unitary(0)) ** 2
        leak.append(p.sum() - np.trace(p))  # power that a bar-state mesh should not cross
    assert 3.5 < leak[1] / leak[0] < 4.5


def test_phase_offsets_are_static_with_the_stated_spread():
    std = 0.3
    c = chip(2, nonideal={"fabrication": {"phase_offset_std": std}})
    params = np.zeros((1, c.layer_info(0).n_params))
    offs = np.concatenate([c.physical_phases(l, params)[0] for l in range(2)])
    assert abs(offs.std() / std - 1) < 0.1 and abs(offs.mean()) < 0.05
    a, b = c.query(X, 1)[0], c.query(X, 1)[0]
    assert np.array_equal(a, b)  # static: no drift, no noise


# ---------------------------------------------------------------- drive
def test_dac_quantization_error_halves_per_bit_and_converges_to_ideal():
    p = np.random.default_rng(1).uniform(0, 2 * np.pi, 20000)
    err = [np.abs(drive_phases(p, Drive(dac_bits=b)) - p).max() for b in range(6, 15)]
    ratios = np.array(err[:-1]) / np.array(err[1:])
    assert np.all((ratios > 1.7) & (ratios < 2.3)), ratios
    ideal = chip().query(X, 0)[0]
    dev = [np.abs(chip(nonideal={"drive": {"dac_bits": b}}).query(X, 0)[0] - ideal).max() for b in (6, 10, 14)]
    assert dev[0] > dev[1] > dev[2] and dev[2] < 1e-3
    assert 4 < math.log2(dev[0] / dev[2]) < 12  # ~8 bits apart -> ~2^8 smaller on average


def test_quadratic_drive_law_and_phase_range():
    d = Drive(dac_bits=None, phase_range=np.pi)
    np.testing.assert_allclose(d.v_max, d.v_pi)
    np.testing.assert_allclose(drive_phases([0.5, 3.0, 4.0, 2 * np.pi + 0.5], d), [0.5, 3.0, np.pi, 0.5])
    coarse = Drive(dac_bits=3)
    levels = np.unique(drive_phases(np.linspace(0, 2 * np.pi - 1e-9, 999), coarse))
    v = np.sqrt(levels / np.pi) * coarse.v_pi
    np.testing.assert_allclose(np.diff(v), coarse.v_max / 7, rtol=1e-9)  # uniform in voltage, quadratic in phase


def test_heater_power_follows_p_pi():
    c = chip(init="identity")
    c.set_params(0, np.full(c.layer_info(0).n_params, np.pi))
    np.testing.assert_allclose(c.heater_power_W(), 0.020 * c.layer_info(0).n_params)
    c.set_params(0, np.zeros(c.layer_info(0).n_params))
    assert c.heater_power_W()[0] == 0.0


# ---------------------------------------------------------------- crosstalk
def test_crosstalk_matrix_physics():
    spec = chip().specs[0]
    pos = grid_heater_positions(spec)
    K = crosstalk_matrix(spec.heater_names, pos, 0.1, 50.0).toarray()
    np.testing.assert_array_equal(np.diag(K), 1.0)
    np.testing.assert_allclose(K, K.T)
    i, j = spec.heater_names.index("mzi_c0_r0_phi"), spec.heater_names.index("mzi_c0_r0_theta")
    d = math.dist(pos["mzi_c0_r0_phi"], pos["mzi_c0_r0_theta"])
    np.testing.assert_allclose(K[i, j], 0.1 * math.exp(-d / 50.0), rtol=1e-12)
    zero = crosstalk_matrix(spec.heater_names, pos, 0.0, 50.0)
    ph = np.random.default_rng(0).uniform(0, 6, (3, spec.n_params))
    assert np.array_equal(apply_crosstalk(ph, zero), ph)


def test_crosstalk_shifts_neighbours_by_k_times_the_drive():
    c = chip(nonideal={"crosstalk": {"kappa": 0.05}})
    K = c._crosstalk[0].toarray()
    params = np.zeros(c.layer_info(0).n_params)
    params[10] = 2.0
    np.testing.assert_allclose(c.physical_phases(0, params), 2.0 * K[:, 10], atol=1e-15)


# ---------------------------------------------------------------- detection
def _repeat(c, layer=0, m=400):
    """m independent reads of the same inputs: (m, B, N)."""
    return c.query(X, layer, {layer: np.repeat(c.get_params(layer)[None], m, axis=0)})


def test_thermal_noise_has_the_stated_variance():
    snr = 30.0
    c = chip(nonideal={"detection": {"thermal_snr_dB": snr}})
    reads, mean = _repeat(c), chip().query(X, 0)[0]
    sigma = c.reference_power * 10 ** (-snr / 20)
    bright = mean > 5 * sigma
    np.testing.assert_allclose(reads.mean(0)[bright], mean[bright], atol=4 * sigma / np.sqrt(400))
    assert abs(reads.var(0)[bright].mean() / sigma**2 - 1) < 0.1


def test_shot_noise_variance_is_proportional_to_the_mean_power():
    snr = 20.0
    c = chip(nonideal={"detection": {"shot_snr_dB": snr}})
    reads, mean = _repeat(c), chip().query(X, 0)[0]
    scale = c.reference_power * 10 ** (-snr / 10)
    bright = mean > 0.5 * c.reference_power
    ratio = reads.var(0)[bright] / (scale * mean[bright])
    assert abs(ratio.mean() - 1) < 0.05 and bright.sum() > 20


def test_adc_quantizes_readings_onto_its_levels():
    c = chip(nonideal={"detection": {"adc_bits": 6}})
    out = c.query(X, 0)[0]
    step = c.full_scale[0] / 63
    np.testing.assert_allclose(out / step, np.round(out / step), atol=1e-9)
    assert np.abs(out - chip().query(X, 0)[0]).max() <= step / 2 + 1e-12


def test_responsivity_spread_scales_each_detector():
    std = 0.05
    c = chip(2, nonideal={"detection": {"responsivity_std": std}})
    ideal = chip(2)
    for l in range(2):
        ratio = c.query(X, l)[0] / ideal.query(X, l)[0]
        np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], ratio.shape), rtol=1e-10)
    r = draw_responsivity(N, std, effect_rng(3, 0, "responsivity"))
    np.testing.assert_allclose(c.query(X, 0)[0] / ideal.query(X, 0)[0], np.broadcast_to(r, (len(X), N)), rtol=1e-10)


def test_deeper_layers_see_lower_snr_from_the_same_detectors():
    c = chip(2, nonideal={"detection": {"thermal_snr_dB": 30.0}})
    assert c.full_scale[0] == pytest.approx(0.1) and c.full_scale[1] < 0.01
    assert c.reference_power == pytest.approx(1 / N)


# ---------------------------------------------------------------- drift
def test_drift_zero_is_static_and_positive_is_a_random_walk():
    static = chip(nonideal={"fabrication": {"phase_offset_std": 0.1}, "drift": {"sigma": 0.0}})
    assert np.array_equal(static.query(X, 0)[0], static.query(X, 0)[0])
    sigma = 0.01
    c = chip(2, nonideal={"drift": {"sigma": sigma}})
    variances = []
    for _ in range(3):
        for _ in range(50):
            c.query(X[:1], 0)
        d = np.concatenate([c.drift_offsets(l) for l in range(2)])
        variances.append(d.var())
    np.testing.assert_allclose(np.array(variances) / (sigma**2 * np.array([50, 100, 150])), 1.0, atol=0.15)
    a, b = c.query(X, 0)[0], c.query(X, 0)[0]
    assert not np.array_equal(a, b)


def test_advance_drift_matches_the_variance_of_many_calls():
    c = chip(nonideal={"drift": {"sigma": 0.02}})
    c.advance_drift(400)
    assert abs(c.drift_offsets(0).var() / (0.02**2 * 400) - 1) < 0.2


# ---------------------------------------------------------------- seeds, instances, wavelength
def test_seeded_reproducibility_and_independent_streams():
    cfg = severity_preset("combined", "medium")
    a, b = chip(nonideal=cfg), chip(nonideal=cfg)
    for _ in range(3):
        assert np.array_equal(a.query(X, 0)[0], b.query(X, 0)[0])
    other = chip(nonideal=cfg, instance_seed=1)
    assert not np.allclose(other.query(X, 0)[0], chip(nonideal=cfg).query(X, 0)[0])
    np.testing.assert_array_equal(a.fabricate(1).unitary(0), chip(nonideal=cfg, instance_seed=1).unitary(0))
    # switching on an unrelated effect leaves the coupler draws alone
    cpl = chip(nonideal={"fabrication": {"coupler_std": 0.02}}).unitary(0)
    both = chip(nonideal={"fabrication": {"coupler_std": 0.02}, "detection": {"thermal_snr_dB": 30.0}}).unitary(0)
    np.testing.assert_array_equal(cpl, both)


def test_wavelength_model():
    np.testing.assert_allclose(couplings_at_wavelength(0.5, 1.60, 2.5), np.sin(np.pi / 4 * 1.125) ** 2)
    assert couplings_at_wavelength(0.5, 1.55, 2.5) == 0.5
    c = chip(2)
    same = c.at_wavelength(1.55)
    assert same.is_ideal and np.array_equal(same.query(X, 1)[0], c.query(X, 1)[0])
    red = c.at_wavelength(1.60)
    assert not red.is_ideal and red.wavelength_um == 1.60
    assert not np.allclose(red.query(X, 1)[0], c.query(X, 1)[0])
    u = red.unitary(0)
    np.testing.assert_allclose(u.conj().T @ u, np.eye(N), atol=1e-12)  # dispersion alone stays lossless
    np.testing.assert_allclose(red.physical_phases(0, np.full(c.layer_info(0).n_params, 1.0)), 1.55 / 1.60)


def test_config_round_trip_through_the_chip():
    cfg = severity_preset("combined", "high")
    c = chip(2, nonideal=cfg, wavelength_um=1.56, instance_seed=4)
    config = json.loads(json.dumps(c.to_config()))
    again = PhotonicChip.from_config(config)
    assert again.nonideal == cfg and again.wavelength_um == 1.56 and again.instance_seed == 4
    for l in range(2):
        again.set_params(l, c.get_params(l))
    assert np.array_equal(again.query(X, 1)[0], c.query(X, 1)[0])
    assert chip().to_config()["nonideal"] is None


# ---------------------------------------------------------------- configs
@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_config_file_round_trip(tmp_path, suffix):
    cfg = severity_preset("combined", "medium").replace(crosstalk=Crosstalk(kappa=0.02, decay_length_um=30.0))
    path = tmp_path / f"chip{suffix}"
    config = ChipConfig(nonideal=cfg)
    if suffix == ".toml":
        config.to_toml(path)
    else:
        path.write_text(json.dumps(config.to_dict()))
    assert ChipConfig.from_file(path).nonideal == cfg


def test_toml_with_a_nonideal_table(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[chip]\nports = 16\n[nonideal.fabrication]\nphase_offset_std = 0.2\n[nonideal.drive]\ndac_bits = 8\n')
    cfg = ChipConfig.from_toml(path).nonideal
    assert cfg.fabrication.phase_offset_std == 0.2 and cfg.drive.dac_bits == 8


@pytest.mark.parametrize(
    "bad, word",
    [
        ({"fabrication": {"coupler_sd": 0.1}}, "coupler_sd"),
        ({"fab": {}}, "fab"),
        ({"drive": {"dac_bits": 0}}, "dac_bits"),
        ({"fabrication": {"mzi_loss_dB": -1}}, "mzi_loss_dB"),
        ({"crosstalk": {"positions": "random"}}, "positions"),
        ({"detection": "loud"}, "detection"),
    ],
)
def test_bad_configs_name_the_bad_key(bad, word, tmp_path):
    with pytest.raises(ValueError, match=word):
        NonIdealConfig.from_dict(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"nonideal": bad}))
    with pytest.raises(UserInputError, match=word) as err:
        ChipConfig.from_file(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_presets_and_section_defaults_are_off():
    for section in (Fabrication(), Drive(), Crosstalk(), Detection(), Drift()):
        assert not section.enabled
    assert NonIdealConfig().is_ideal
    for effect in EFFECTS:
        for level in LEVELS:
            cfg = severity_preset(effect, level)
            assert not cfg.is_ideal and NonIdealConfig.from_dict(cfg.to_dict()) == cfg
    assert severity_preset("phase_offset", "high").fabrication.phase_offset_std == pytest.approx(np.pi)
    assert severity_preset("combined", "low").drive.dac_bits == 10
    with pytest.raises(ValueError, match="extreme"):
        severity_preset("dac", "extreme")
    with pytest.raises(ValueError, match="wobble"):
        severity_preset("wobble", "low")


def test_parse_preset_merges_effects():
    cfg = parse_preset("dac:medium + drift:high")
    assert cfg.drive.dac_bits == 8 and cfg.drift.sigma == 1e-2 and cfg.fabrication == Fabrication()
    with pytest.raises(UserInputError, match="EFFECT:LEVEL"):
        parse_preset("dac")
    with pytest.raises(UserInputError, match="wobble"):
        parse_preset("dac:low+wobble:low")


def test_layout_crosstalk_takes_positions_from_the_caller():
    cfg = NonIdealConfig(crosstalk=Crosstalk(kappa=0.05, positions="layout"))
    with pytest.raises(UserInputError, match="heater_positions"):
        chip(nonideal=cfg)
    seen = []

    def positions(spec):
        seen.append(spec.n_ports)
        return grid_heater_positions(spec, 100.0, 127.0)

    from_layout = chip(nonideal=cfg, heater_positions=positions)
    on_grid = chip(nonideal=cfg.replace(crosstalk=Crosstalk(kappa=0.05)))
    assert seen == [N]
    assert np.array_equal(from_layout.query(X, 0), on_grid.query(X, 0))
    assert from_layout.fabricate(1).heater_positions is positions


def test_bad_chip_arguments():
    with pytest.raises(ValueError, match="wavelength_um"):
        chip(wavelength_um=-1.0)
    with pytest.raises(ValueError, match="instance_seed"):
        chip(instance_seed=-2)
    with pytest.raises(UserInputError, match="nonideal"):
        chip(nonideal="high")


# ---------------------------------------------------------------- training and the study
def test_in_situ_training_sees_only_the_protocol_and_absorbs_phase_offsets():
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.trainer import Trainer

    data = load_dataset("digits", seed=0, standardize=False)
    off = severity_preset("phase_offset", "high")
    offline = PhotonicChip.for_data(data, ports=16, layers=1, seed=0)
    Trainer(paradigm="bp-ad", epochs=5, batch_size=32, lr=1e-2, optimizer="adam").fit(offline, data)
    deployed = offline.with_nonideal(off)
    ev = Trainer(paradigm="bp-ad")
    assert ev.evaluate(offline, data)["test_accuracy"] > 0.5
    broken = ev.evaluate(deployed, data)["test_accuracy"]
    assert broken < 0.2  # random static offsets ruin offline phases
    insitu = PhotonicChip.for_data(data, ports=16, layers=1, seed=0, nonideal=off)
    tr = Trainer(epochs=6, batch_size=16, lr=1e-2, optimizer="adam", schedule="cosine")
    tr.fit(insitu, data)
    assert tr.evaluate(insitu, data)["test_accuracy"] > broken + 0.1  # 6 epochs on the ideal chip reach ~0.25


def test_study_smoke(tmp_path):
    from ffzero_photonics.studies.robustness import run_robustness

    out = tmp_path / "study"
    res = run_robustness(
        out, bounded=True, workers=1, epochs=1, offline_epochs=1, effects=("phase_offset",), levels=("high",),
        multilayer_effects=(), ablation_epochs=1, photonic_ablations=("base",), mlp_ablations=("base",),
        mc_instances=2, mc_retrain=0, wavelengths=(1.55, 1.6), log=lambda m: None,
    )
    for name in ("summary.md", "robustness.csv", "robustness.md", "ablations.csv", "yield.csv", "wavelength.csv",
                 "accuracy_vs_severity.png", "accuracy_vs_queries.png", "yield_curve.png", "wavelength.png"):
        assert (out / name).is_file(), name
    assert "phase_offset" in (out / "robustness.md").read_text() and res["wall_time_s"] > 0


@pytest.mark.slow
def test_bounded_study_runs(tmp_path):
    """The CI form of the study (FFZERO_BOUNDED=1); the unbounded form is the full study itself (~40 min)."""
    from ffzero_photonics.studies.robustness import run_robustness

    if os.environ.get("FFZERO_BOUNDED") != "1":
        pytest.skip("the full study is run by hand: ffzero study robustness --out docs/robustness")
    from ffzero_photonics.studies.robustness import StudyPlan

    res = run_robustness(tmp_path / "s", bounded=True, workers=2, log=lambda m: None)
    assert res["ideal_offline"] > 0.5 and res["ideal_ffzero_hw"] > 0.3
    plan = StudyPlan.bounded()
    rows = (tmp_path / "s" / "robustness_summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 1 + len(plan.effects) * len(plan.levels)


def test_a_chip_loaded_with_anothers_sim_state_reads_the_same_noise_and_drift_from_there():
    a = chip(2, nonideal=severity_preset("combined", "high"))
    outputs(a)
    state = json.loads(json.dumps(a.sim_state()))  # a checkpoint holds it as JSON
    b = chip(2, nonideal=severity_preset("combined", "high"))
    fresh = outputs(b)
    b.load_sim_state(state)
    later = outputs(a)
    assert all(np.array_equal(x, y) for x, y in zip(outputs(b), later))
    assert not all(np.array_equal(x, y) for x, y in zip(fresh, later))
