"""The chip in physical units: power budget, bounded heater drives, power limit, noise, lab time, crosstalk, presets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ffzero_photonics.blackbox import INTERVAL, ForwardingBlackBox, LayerInfo, project_params
from ffzero_photonics.chip_factory import build_chip_from_config
from ffzero_photonics.cli.main import main
from ffzero_photonics.data import load_dataset
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.lab import InstrumentChip, SimulatedInstrument
from ffzero_photonics.layouts.floorplan import heater_positions_for
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.photonic.chip_config import ChipConfig, build_chip
from ffzero_photonics.photonic.physics.heaters import HeaterPowerLimitError
from ffzero_photonics.photonic.physics.thermal import crosstalk_matrix
from ffzero_photonics.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
GRID = {"thermal": {"positions": "grid"}}  # no layout needed: fast, and independent of the layout package
X16 = np.random.default_rng(1).uniform(0, 1, (3, 16))


def physical(ports: int = 4, layers: int = 2, n_features: int = 16, seed: int = 0, **tables) -> PhotonicChip:
    config = ChipConfig.from_dict({"chip": {"model": "physical", "ports": ports, "layers": layers,
                                            "n_features": n_features, "seed": seed}, **GRID, **tables})
    return build_chip_from_config(config)


# ---------- the paper's chip stays what it was ----------
def test_paper_preset_reproduces_the_ideal_chip_bit_for_bit():
    """Values today's ideal chip gave before the physical model existed (PhotonicChip(16, ports=4, layers=2, seed=3))."""
    config = ChipConfig.preset("paper").with_overrides(ports=4, n_features=16, seed=3)
    chip = build_chip(config)
    assert chip.layer_info(0).domain == "periodic" and chip.is_ideal
    np.testing.assert_array_equal(chip.query(X16, 1)[0][0].round(12),
                                  [0.00030709721, 8.0776277e-05, 0.000319219953, 1.008839e-06])
    np.testing.assert_array_equal(chip.query(X16, 0)[0][0].round(12),
                                  [0.020580583174, 0.046186942689, 0.0060290548, 0.027203419337])
    assert chip.get_params(0)[:3].tolist() == [2.3927818579552538, 4.382699357895913, 1.477210394709192]
    assert ChipConfig.from_toml(ROOT / "examples" / "paper_chip.toml") == ChipConfig.preset("paper")


def test_example_chip_is_the_physical_preset():
    config = ChipConfig.from_toml(ROOT / "examples" / "chip.toml")
    assert config == ChipConfig.preset("physical") and config.is_physical
    assert (config.chip.ports, config.chip.layers) == (16, 2)


# ---------- power budget ----------
def test_default_chip_keeps_every_layer_within_20_dB_and_the_activation_nonlinear():
    """examples/chip.toml (layout crosstalk and route lengths): mean detector powers within 20 dB of layer 0."""
    config = ChipConfig.preset("physical").with_overrides(n_features=64, image_shape=[8, 8])
    chip = build_chip_from_config(config)
    x = load_dataset("digits", seed=0).X_train[:128]
    powers = chip.detector_powers(x)
    mean_dBm = [10 * np.log10(p.mean()) for p in powers]
    assert all(abs(m - mean_dBm[0]) < 20 for m in mean_dBm), mean_dBm
    assert -60 < mean_dBm[0] < 0  # mW-scale laser, tens of dB of loss: uW on the taps
    eo = chip.physical.activations[0]
    mean_in = chip.physical.layers[0].mean_detector_mW / eo.alpha
    transmission = [float(np.cos(eo.phase(p)) ** 2) for p in (0.1 * mean_in, mean_in)]
    assert transmission[1] > 10 * transmission[0]  # dark at low power, open at the operating point
    assert chip.physical.route_um[0] > 4_000  # the drawn column pitch (~326 um), not a 100 um grid


def test_readings_are_physical_power_and_noise_follows_the_detector():
    chip = physical()
    clean = chip.detector_powers(X16)[1][0]
    reads = chip.query(np.repeat(X16[:1], 400, axis=0), 1)[0]
    det = chip.physical.detectors[1]  # TIA sized for this readout: full scale 10 dB above its expected mean
    assert det.full_scale_power_mW == pytest.approx(10 * chip.physical.layers[1].mean_detector_mW, rel=0.1)
    lsb = det.full_scale_power_mW / (2**12 - 1)
    inside = clean < 0.8 * det.full_scale_power_mW
    assert inside.sum() >= 2
    sigma_mW = det.noise_std_A(clean) / det.responsivity_A_per_W * 1e3
    np.testing.assert_allclose(reads.std(axis=0)[inside], sigma_mW[inside], rtol=0.25, atol=lsb)
    np.testing.assert_allclose(reads.mean(axis=0)[inside], clean[inside], atol=4 * sigma_mW.max() / 20 + lsb)


def test_same_seed_same_readings_and_another_instance_differs():
    a, b = physical(seed=2), physical(seed=2)
    np.testing.assert_array_equal(a.query(X16, 1), b.query(X16, 1))
    other = build_chip_from_config(ChipConfig.from_dict({"chip": {"model": "physical", "ports": 4, "n_features": 16,
                                                                  "seed": 2, "instance_seed": 1}, **GRID}))
    assert not np.allclose(other.physical.heater_draws[0].p_pi_mW, a.physical.heater_draws[0].p_pi_mW)


# ---------- heaters: bounded drive and power limit ----------
def test_heater_parameters_are_a_bounded_interval_never_wrapped():
    chip = physical(heaters={"v_max_V": 6.0})
    info = chip.layer_info(0)
    theta_max = chip.physics.heaters.phase_range_rad
    assert info.domain == INTERVAL and info.low == 0.0 and info.high == pytest.approx(theta_max) and theta_max < 2 * math.pi
    assert all(0 <= p.min() and p.max() <= theta_max for p in (chip.get_params(l) for l in range(2)))
    probe = chip.get_params(0)
    probe[0] = 0.0
    chip.set_params(0, probe)
    low = chip.heater_power_W()
    with pytest.raises(UserInputError, match="must lie in"):
        chip.query(X16, 0, {0: np.where(np.arange(probe.size) == 0, -0.01, probe)[None]})
    probe[0] = 0.01  # a small step near zero drive costs a small power, never 2 P_pi
    chip.set_params(0, probe)
    assert 0 <= chip.heater_power_W()[0] - low[0] < 1e-3


def test_total_heater_power_limit_is_refused_not_clipped():
    with pytest.raises(HeaterPowerLimitError, match=r"max_total_power_W = 0.05 W"):
        physical(heaters={"max_total_power_W": 0.05})
    chip = physical(heaters={"max_total_power_W": 1.0})
    chip.meter_heater_energy()
    before, calls = chip.get_params(0), chip.counter.calls
    hot = np.full_like(before, chip.layer_info(0).high)
    with pytest.raises(HeaterPowerLimitError, match="is exceeded"):
        chip.query(X16, 0, {0: hot[None]})
    assert chip.heater_energy_J == 0.0  # a refused setting is not run, so not metered
    with pytest.raises(HeaterPowerLimitError):
        chip.set_params(0, hot)
    np.testing.assert_array_equal(chip.get_params(0), before)
    assert chip.counter.calls == calls
    chip.query(X16, 0, {0: before[None]})
    assert chip.heater_energy_J > 0


def test_global_heating_is_a_common_phase_that_leaves_detector_powers_unchanged():
    """A warmer substrate shifts both arms of every balanced MZI alike: heater phases and readings do not move."""
    chip = physical(thermal={"positions": "grid", "kappa": 0.0})
    params = chip.get_params(0)
    cold = chip.physical_phases(0, params, total_W=np.array([0.0]))
    warm = chip.physical_phases(0, params, total_W=np.array([1.0]))
    np.testing.assert_array_equal(warm, cold)
    hot = physical(thermal={"positions": "grid", "kappa": 0.0, "substrate_K_per_W": 50.0})
    x = np.random.default_rng(0).uniform(0, 1, (4, chip.n_inputs))
    np.testing.assert_allclose(hot.detector_powers(x)[0], chip.detector_powers(x)[0], rtol=1e-12)


# ---------- thermal crosstalk ----------
def test_crosstalk_positions_come_from_the_drawn_layout_by_default():
    config = ChipConfig.preset("physical").with_overrides(ports=4, n_features=16)
    chip = build_chip_from_config(config)
    spec = chip.specs[0]
    expected = crosstalk_matrix(spec.heater_names, heater_positions_for(spec), config.thermal, floor=1e-6)
    np.testing.assert_allclose(chip.physical.crosstalk[0], expected)
    grid = physical()
    assert not np.allclose(grid.physical.crosstalk[0], expected)
    with pytest.raises(UserInputError, match="positions = 'layout'"):
        PhotonicChip(16, ports=4, physics={})


# ---------- lab time ----------
def test_lab_time_and_drift_follow_modelled_seconds():
    chip = physical(clock={"drift_sigma_rad_per_sqrt_s": 0.01, "call_latency_s": 0.5})
    phys = chip.physical
    t0 = phys.elapsed_s
    chip.query(X16, 0, {0: np.repeat(chip.get_params(0)[None], 3, axis=0)})
    expected = 0.5 + 3 * (phys.settle_s + len(X16) * chip.physics.detector.integration_time_s)
    assert phys.elapsed_s - t0 == pytest.approx(expected)
    drift0 = phys.drift[0].copy()
    phys.advance(100.0)  # 100 s: a random walk of 0.01 rad / sqrt(s) moves ~0.1 rad
    assert 0.05 < np.std(phys.drift[0] - drift0) < 0.2


# ---------- training ----------
class RangeSpy(ForwardingBlackBox):
    """Records the lowest and highest setting the trainer ever sends."""

    lo, hi = np.inf, -np.inf

    def query(self, x, layer, settings=None):
        for v in (settings or {}).values():
            self.lo, self.hi = min(self.lo, float(np.min(v))), max(self.hi, float(np.max(v)))
        return super().query(x, layer, settings)


def test_a_chip_limited_below_2_pi_trains_within_its_range():
    data = load_dataset("digits", seed=0)
    chip = physical(ports=16, layers=1, n_features=64, heaters={"v_max_V": 6.0})  # range 1.44 pi
    high = chip.layer_info(0).high
    assert high < 2 * math.pi
    spy = RangeSpy(chip)
    trainer = Trainer(epochs=10, batch_size=16, lr=3e-2, optimizer="adam", eps=0.3)
    trainer.fit(spy, data)
    assert 0.0 <= spy.lo and spy.hi <= high and spy.lo < 0.1 and spy.hi > high - 0.1  # probes reach both ends
    assert trainer.evaluate(spy, data)["test_accuracy"] > 0.3  # chance 0.1


def test_project_params_clips_only_interval_domains():
    bounded = LayerInfo(n_params=3, out_shape=(3,), domain=INTERVAL, low=0.0, high=1.0)
    np.testing.assert_array_equal(project_params(bounded, [-1.0, 0.5, 2.0]), [0.0, 0.5, 1.0])
    periodic = LayerInfo(n_params=3, out_shape=(3,), domain="periodic")
    np.testing.assert_array_equal(project_params(periodic, [-1.0, 0.5, 9.0]), [-1.0, 0.5, 9.0])
    with pytest.raises(ValueError, match="low < high"):
        LayerInfo(n_params=1, out_shape=(1,), domain=INTERVAL)


# ---------- configuration errors ----------
@pytest.mark.parametrize("doc, words", [
    ({"heaters": {"p_pi_mw": 1.0}}, ["[heaters]", "p_pi_mw"]),
    ({"budget": {"laser_power_mW": -1.0}}, ["[budget] laser_power_mW", "-1.0"]),
    ({"detector": {"adc_bits": 40}}, ["[detector] adc_bits", "40"]),
    ({"chip": {"model": "physical", "alpha": 0.2, "n_features": 4, "ports": 4}}, ["[chip] alpha", "0.2"]),
    ({"chip": {"model": "physical", "n_features": 4, "ports": 4}, "nonideal": {"drift": {"sigma": 0.1}}},
     ["[nonideal.drift]", "[clock]"]),
])
def test_bad_physical_input_is_one_line_naming_the_field(doc, words):
    doc = {"chip": {"model": "physical"}, **doc}
    with pytest.raises(UserInputError) as info:
        build_chip_from_config(ChipConfig.from_dict({**doc, **GRID}))
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_physics_tables_need_the_physical_model():
    with pytest.raises(UserInputError, match=r"\[budget\] applies to a physical chip only"):
        ChipConfig.from_dict({"budget": {"laser_power_mW": 1.0}})
    with pytest.raises(UserInputError, match=r"\[input\] applies to a physical chip only"):
        ChipConfig.from_dict({"input": {"dac_bits": 8}})
    with pytest.raises(UserInputError, match=r"\[input\] v_max_V must reach a 2 pi phase"):
        ChipConfig.from_dict({"chip": {"model": "physical"}, "input": {"v_max_V": 1.0}})


# ---------- persistence, instrument, CLI ----------
def test_physical_chip_round_trips_through_its_config():
    chip = physical(seed=4, budget={"laser_power_mW": 5.0})
    again = PhotonicChip.from_config(chip.to_config())
    np.testing.assert_array_equal(again.get_params(1), chip.get_params(1))
    assert again.physical.input_mW == pytest.approx(chip.physical.input_mW)
    np.testing.assert_array_equal(again.detector_powers(X16)[1], chip.detector_powers(X16)[1])


def test_simulated_instrument_drives_the_physical_heaters_bounded():
    chip = physical()
    h = chip.physics.heaters
    remote = InstrumentChip(SimulatedInstrument(chip))
    info = remote.layer_info(0)
    assert info.domain == INTERVAL and info.high == pytest.approx(h.phase_range_rad)
    np.testing.assert_allclose(remote.get_params(0), chip.get_params(0))
    out = remote.query(X16, 1)
    assert out.shape == (1, 3, 4) and np.all(np.isfinite(out))
    with pytest.raises(UserInputError, match="differs"):
        SimulatedInstrument(chip, p_pi_mW=20.0)


def test_budget_command_prints_dBm_snr_and_heater_power(tmp_path, capsys):
    cfg = tmp_path / "chip.toml"
    cfg.write_text('[chip]\nmodel = "physical"\nports = 4\nn_features = 16\n[thermal]\npositions = "grid"\n')
    assert main(["chip", "budget", "--config", str(cfg), "--json", "--samples", "32"]) == 0
    report = json.loads(capsys.readouterr().out)
    first = report["layers"][0]["mean_detector_power_dBm"]
    assert len(report["layers"]) == 2 and report["heater_power_W"] > 0
    assert all(abs(r["mean_detector_power_dBm"] - first) < 20 and r["snr_dB"] > 10 for r in report["layers"])
    assert main(["chip", "budget", "--config", str(cfg)]) == 0
    assert "SNR dB" in capsys.readouterr().out
    assert main(["chip", "budget", "--config", str(ROOT / "examples" / "paper_chip.toml")]) != 0


def test_unitary_view_includes_the_budget_loss():
    chip = physical(layers=1)
    fields = chip.input_fields(X16)
    np.testing.assert_allclose(np.abs(fields @ chip.unitary(0).T) ** 2, chip.detector_powers(X16)[0], rtol=1e-9)
    assert np.abs(chip.unitary(0)).max() < 10 ** (-chip.physical.layers[0].loss_dB / 20) + 1e-12


# ---------- the drawn coherent input is the simulated encoder ----------
def test_physical_chip_encodes_with_the_drawn_coherent_input_scaled_by_laser_and_grating_only():
    from ffzero_photonics.photonic.encoding import CoherentInput, InputSection, VectorEncoder

    chip = physical(input={"splitter_loss_dB": 0.5})
    assert isinstance(chip.encoder, CoherentInput) and chip.encoder.section == InputSection(splitter_loss_dB=0.5)
    on_chip_mW = 10.0 * 10 ** (-2.5 / 10)  # [budget] laser x grating, nothing else
    assert chip.physical.input_mW == pytest.approx(on_chip_mW)
    drawn = CoherentInput(VectorEncoder(16, 4), InputSection(splitter_loss_dB=0.5)).encode(X16)
    np.testing.assert_allclose(chip.input_fields(X16), drawn * np.sqrt(on_chip_mW), rtol=1e-12)
    # the tree's split and losses are in the fields once: at most 1 / 2^2 x (0.5 dB)^4 of the on-chip power per port
    per_port = np.abs(chip.input_fields(X16)) ** 2 / on_chip_mW
    assert per_port.max() <= 0.25 * 10 ** (-4 * 0.5 / 10) + 1e-12 and per_port.max() > 0.1


def test_coherent_input_twin_matches_the_chip_and_the_budget_predicts_the_mesh_input():
    import jax

    chip = physical(ports=16, n_features=64, thermal={"positions": "grid"})
    x = load_dataset("digits", seed=0).X_train[:64]
    with jax.enable_x64(True):
        twin_fields = np.asarray(jax.jit(chip.encoder.encode_jax)(x))  # the twin's input: the same cells, no DAC rounding
    np.testing.assert_allclose(twin_fields, chip.encoder.encode(x), atol=1e-4 * np.abs(twin_fields).max())
    measured = float(np.mean(np.sum(np.abs(chip.input_fields(x)) ** 2, axis=1)))
    assert abs(10 * np.log10(measured / chip.physical.mesh_input_mW)) < 3  # a Gaussian-pattern budget fits digits
    assert chip.physical.mesh_input_mW < chip.physical.input_mW / 2


# ---------- the calibrated twin: autodiff on this fabricated instance ----------
def test_calibrated_twin_equals_the_noise_free_fabricated_chip_and_the_nominal_twin_does_not():
    import jax

    chip = physical(ports=8, layers=3, n_features=16, heaters={"dac_bits": None}, input={"dac_bits": None})
    chip.physical.advance(30.0)  # some drift: a calibration sees the chip as it stands
    x = load_dataset("digits", seed=0).X_train[:16, ::4]
    with jax.enable_x64(True):
        cal = chip.calibrated_twin_forward(chip.twin_params(), x)
        nominal = chip.twin_forward(chip.twin_params(), x)
    for ref, c, n in zip(chip.detector_powers(x), cal, nominal):
        scale = np.abs(ref).max()
        # 1e-8: the input modulators' arccos is ill-conditioned at full drive (float64 rounding -> ~1e-10 in the fields)
        np.testing.assert_allclose(np.asarray(c), ref, rtol=0, atol=1e-8 * scale)
        assert np.abs(np.asarray(n) - ref).max() > 1e-2 * scale


def test_calibrated_twin_of_a_non_physical_fabricated_chip_equals_its_noise_free_powers():
    import jax

    from ffzero_photonics.photonic.nonideal_config import parse_preset

    effects = "coupler:high+loss:high+phase_offset:high+crosstalk:high+responsivity:high+drift:high"
    chip = PhotonicChip(16, ports=4, layers=2, nonideal=parse_preset(effects), seed=3)
    chip.advance_drift(5)
    x = X16
    with jax.enable_x64(True):
        cal = chip.calibrated_twin_forward(chip.twin_params(), x)
    for l, (r, c) in enumerate(zip(chip.detector_powers(x), cal)):  # noise-free powers x each detector's responsivity
        np.testing.assert_allclose(np.asarray(c), r * chip._responsivity[l], rtol=1e-10, atol=1e-12)


def test_an_ideal_chips_calibrated_twin_is_its_twin():
    import jax

    chip = PhotonicChip(16, ports=4, layers=2, seed=1)
    with jax.enable_x64(True):
        a = chip.calibrated_twin_forward(chip.twin_params(), X16)
        b = chip.twin_forward(chip.twin_params(), X16)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_ff_ad_through_the_calibrated_twin_trains_the_fabricated_chip_the_nominal_twin_does_not():
    data = load_dataset("digits", seed=0, standardize=False)
    acc = {}
    for twin in ("nominal", "calibrated"):
        chip = physical(ports=16, layers=1, n_features=64)
        trainer = Trainer(paradigm="ff-ad", twin=twin, loss="ce", temperature=0.1, epochs=5, seed=0)
        trainer.fit(chip, data)
        acc[twin] = trainer.evaluate(chip, data, "test")["test_accuracy"]  # read on the noisy fabricated chip
    assert acc["calibrated"] > 0.6 and acc["calibrated"] > acc["nominal"] + 0.2, acc


def test_a_calibrated_twin_needs_an_autodiff_paradigm_and_a_simulated_photonic_chip():
    from ffzero_photonics.digital.mlp import MLP

    with pytest.raises(UserInputError, match="twin 'calibrated' is for the autodiff paradigms"):
        Trainer(paradigm="ffzero", twin="calibrated")
    with pytest.raises(UserInputError, match="unknown twin 'measured'; choose one of nominal, calibrated"):
        Trainer(paradigm="ff-ad", twin="measured")
    data = load_dataset("digits", seed=0)
    with pytest.raises(UserInputError, match="twin 'calibrated' needs a simulated photonic chip, got MLP"):
        Trainer(paradigm="ff-ad", twin="calibrated", epochs=1).fit(MLP([64, 10], seed=0), data)


def test_train_command_records_the_calibrated_twin_in_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "photonic", "--chip-config", str(ROOT / "examples" / "chip.toml"), "--paradigm",
                 "ff-ad", "--twin", "calibrated", "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["spec"]["train"]["twin"] == "calibrated"
    assert "test accuracy" in capsys.readouterr().out
