"""Physics modules of a buildable chip: units, limits, noise scaling, bounded heater drive, power limit, drift per second."""

import math

import numpy as np
import pytest

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.activation import EOActivation
from ffzero_photonics.photonic.mesh_spec import clements
from ffzero_photonics.photonic.physics.activation import Activation
from ffzero_photonics.photonic.physics.budget import Budget, dbm, mean_detector_power_mW, mesh_path_counts, mw
from ffzero_photonics.photonic.physics.clock import Clock, LabClock, drift_offsets, drift_variance_rad2
from ffzero_photonics.photonic.physics.detection import BOLTZMANN_J_PER_K, ELEMENTARY_CHARGE_C, Detector
from ffzero_photonics.photonic.physics.heaters import (
    HeaterPowerLimitError,
    Heaters,
    global_phase_shift_rad,
    substrate_temperature_rise_K,
)
from ffzero_photonics.photonic.physics.thermal import Thermal, apply_crosstalk, crosstalk_matrix

TABLES = [Detector, Heaters, Thermal, Budget, Clock, Activation]


# ---------------------------------------------------------------- tables
@pytest.mark.parametrize("cls", TABLES)
def test_table_round_trip_and_unknown_key(cls):
    default = cls()
    assert cls.from_dict(default.to_dict()) == default
    with pytest.raises(UserInputError, match=rf"\[{cls.TABLE}\] unknown key 'bogus'"):
        cls.from_dict({"bogus": 1})


@pytest.mark.parametrize("cls, field, bad", [
    (Detector, "bandwidth_Hz", -1.0), (Detector, "rin_dB_per_Hz", 3.0), (Detector, "adc_bits", 0),
    (Heaters, "p_pi_mW", 0.0), (Heaters, "v_max_V", "7"), (Thermal, "kernel", "gaussian"),
    (Thermal, "trenches", "yes"), (Budget, "crossing_loss_dB", -0.1), (Clock, "call_latency_s", -1e-3),
    (Activation, "tap_fraction", 1.0),
])
def test_bad_value_names_table_field_and_value(cls, field, bad):
    with pytest.raises(UserInputError, match=rf"\[{cls.TABLE}\] {field} .*{bad!r}"):
        cls.from_dict({field: bad})


# ---------------------------------------------------------------- detection
def test_photocurrent_units():
    det = Detector(responsivity_A_per_W=0.8)
    assert det.photocurrent_uA(1.0) == pytest.approx(800.0)  # 1 mW at 0.8 A/W = 800 uA
    assert det.integration_time_s == pytest.approx(1 / (2 * det.bandwidth_Hz))
    assert det.full_scale_power_mW == pytest.approx((2.5 / det.tia_gain_ohm - 50e-9) / 0.8 * 1e3)


def test_zero_power_leaves_only_dark_shot_and_johnson_noise():
    det = Detector()
    var = det.noise_variances_A2(0.0)
    b = det.bandwidth_Hz
    assert float(var["rin"]) == 0.0
    assert float(var["shot"]) == pytest.approx(2 * ELEMENTARY_CHARGE_C * 50e-9 * b)
    assert float(var["johnson"]) == pytest.approx(4 * BOLTZMANN_J_PER_K * 300.0 * b / det.tia_gain_ohm)
    assert det.snr_dB(0.0) == -np.inf


def test_noise_scales_with_sqrt_bandwidth():
    powers = np.array([0.0, 0.01, 0.3])
    narrow, wide = Detector(bandwidth_Hz=10e6), Detector(bandwidth_Hz=40e6)
    np.testing.assert_allclose(wide.noise_std_A(powers) / narrow.noise_std_A(powers), 2.0)


def test_shot_limited_snr_grows_10_dB_per_10_dB_of_power():
    det = Detector(rin_dB_per_Hz=-300.0, dark_current_nA=0.0, tia_gain_ohm=1e9)
    snr = det.snr_dB(np.array([1e-4, 1e-3, 1e-2]))
    np.testing.assert_allclose(np.diff(snr), 10.0, atol=0.01)
    assert det.noise_variances_A2(1e-3)["shot"] > 100 * det.noise_variances_A2(1e-3)["johnson"]


def test_rin_caps_the_snr_and_power_for_snr_inverts_it():
    det = Detector()
    cap = -det.rin_dB_per_Hz - 10 * math.log10(det.bandwidth_Hz)
    assert det.snr_dB(1e4) == pytest.approx(cap, abs=0.05)
    for target in (10.0, 30.0, 50.0, 65.0):
        assert det.snr_dB(det.power_for_snr(target)) == pytest.approx(target, abs=1e-6)
    with pytest.raises(UserInputError, match="RIN limit"):
        det.power_for_snr(cap + 1.0)


def test_read_is_unbiased_with_the_predicted_spread():
    det = Detector(adc_bits=None)
    p = 0.3 * det.full_scale_power_mW
    power = np.full(200_000, p)
    reading, current = det.read(power, np.random.default_rng(0))
    sigma_mW = det.noise_std_A(p) / det.responsivity_A_per_W * 1e3
    assert reading.mean() == pytest.approx(p, abs=3 * sigma_mW / math.sqrt(power.size))
    assert reading.std() == pytest.approx(sigma_mW, rel=0.02)
    np.testing.assert_allclose(current, reading * 1e3 * det.responsivity_A_per_W)


def test_read_quantizes_and_clips_at_full_scale():
    det = Detector(adc_bits=8)
    reading, current = det.read(np.array([0.0, 0.05, 10 * det.full_scale_power_mW]), np.random.default_rng(1))
    volts = (current * 1e-6 + det.dark_current_A) * det.tia_gain_ohm
    lsb = det.adc_full_scale_V / 255
    np.testing.assert_allclose(volts / lsb, np.round(volts / lsb), atol=1e-6)
    assert reading[2] == pytest.approx(det.full_scale_power_mW)  # clipped, not extrapolated
    assert reading[0] >= -det.dark_current_A / det.responsivity_A_per_W * 1e3 - 1e-12


# ---------------------------------------------------------------- heaters
def test_heater_law_and_phase_range():
    h = Heaters(resistance_ohm=1000.0, p_pi_mW=25.0, v_max_V=7.5, dac_bits=None)
    assert h.v_pi_V == pytest.approx(5.0)
    assert h.power_W(5.0) == pytest.approx(25e-3)
    assert h.phases(np.array([5.0])) == pytest.approx([math.pi])
    assert h.phase_range_rad == pytest.approx(math.pi * 7.5**2 / 25.0)
    assert h.phase_range_rad >= 2 * math.pi


def test_drive_domain_is_bounded_and_never_wraps():
    h = Heaters(dac_bits=None)
    phase = np.linspace(0, h.phase_range_rad, 7)
    np.testing.assert_allclose(h.phases(h.volts_for_phase(phase)), phase, atol=1e-12)
    # a probe just below zero stays at zero drive instead of wrapping to ~2 pi (~2 P_pi of heat)
    probe = h.volts_for_phase(np.array([-1e-3, -0.5]))
    assert np.all(probe == 0.0) and np.all(h.power_W(probe) == 0.0)
    assert h.phases(h.volts_for_phase(h.phase_range_rad + 1.0)) == pytest.approx(h.phase_range_rad)
    assert h.dac(np.array([-1.0, 100.0])).tolist() == [0.0, h.v_max_V]


def test_dac_levels():
    h = Heaters(dac_bits=4, v_max_V=7.5)
    out = h.dac(np.linspace(0, 7.5, 1000))
    assert len(np.unique(out)) == 16
    assert np.max(np.abs(out - np.linspace(0, 7.5, 1000))) <= 7.5 / 15 / 2 + 1e-12


def test_draw_instance_spreads_p_pi_and_offsets():
    h = Heaters(p_pi_spread=0.05, phase_offset_std_rad=0.2, dac_bits=None)
    inst = h.draw_instance(50_000, np.random.default_rng(3))
    assert np.std(inst.p_pi_mW) / h.p_pi_mW == pytest.approx(0.05, rel=0.03)
    assert np.std(inst.offsets_rad) == pytest.approx(0.2, rel=0.03)
    again = h.draw_instance(50_000, np.random.default_rng(3))
    np.testing.assert_array_equal(inst.p_pi_mW, again.p_pi_mW)
    v = np.full(50_000, h.v_pi_V)
    np.testing.assert_allclose(h.phases(v, inst), inst.offsets_rad + math.pi * h.p_pi_mW / inst.p_pi_mW)


def test_total_power_limit_is_refused_not_clipped():
    h = Heaters(max_total_power_W=1.0, dac_bits=None)
    ok = np.full(10, h.v_pi_V)  # 10 x 25 mW = 0.25 W
    assert h.check_total_power(ok) == pytest.approx(0.25)
    too_much = np.full((2, 64), h.v_max_V)  # 64 x 56.25 mW = 3.6 W
    with pytest.raises(HeaterPowerLimitError, match=r"\[heaters\] max_total_power_W = 1.0") as info:
        h.check_total_power(too_much)
    assert isinstance(info.value, UserInputError)
    assert h.total_power_W(too_much) == pytest.approx([3.6, 3.6])


def test_settle_time_from_tau():
    h = Heaters(settle_tau_s=2e-6)
    assert h.settle_time_s(math.pi, 1e-3) == pytest.approx(2e-6 * math.log(math.pi / 1e-3))
    assert h.settle_time_s(1e-4, 1e-3) == 0.0
    with pytest.raises(UserInputError, match="tolerance_rad"):
        h.settle_time_s(1.0, 0.0)


def test_global_heating_phase():
    rise = substrate_temperature_rise_K(2.0, 5.0)
    assert rise == pytest.approx(10.0)
    phase = global_phase_shift_rad(2.0, 5.0, heated_length_um=100.0)
    assert phase == pytest.approx(2 * math.pi / 1.55e-6 * 1.8e-4 * 10.0 * 100e-6)
    assert global_phase_shift_rad(4.0, 5.0, 100.0) == pytest.approx(2 * phase)


# ---------------------------------------------------------------- thermal crosstalk
def mesh_positions(px, py, n_ports=8):
    """Heater positions of a Clements mesh on a (px per column, py per port) floorplan."""
    spec = clements(n_ports)
    out = {}
    for site in spec.mzis:
        theta, phi = site.heaters
        out[phi] = (site.column * px, -site.row * py)
        out[theta] = ((site.column + 0.5) * px, -(site.row + 0.25) * py)
    for p, name in enumerate(spec.screen_heaters):
        out[name] = (spec.n_columns * px, -p * py)
    return list(spec.heater_names), out


@pytest.mark.parametrize("kernel", ["exponential", "lorentzian"])
def test_crosstalk_matrix_is_symmetric_with_unit_diagonal_and_decays(kernel):
    thermal = Thermal(kernel=kernel)
    names, pos = mesh_positions(100.0, 127.0)
    K = crosstalk_matrix(names, pos, thermal)
    np.testing.assert_allclose(K, K.T)
    np.testing.assert_array_equal(np.diag(K), 1.0)
    k = thermal.coupling(np.array([0.0, 10.0, 50.0, 100.0, 800.0]))
    assert k[0] == pytest.approx(thermal.kappa)
    assert np.all(np.diff(k) < 0)
    assert thermal.coupling(thermal.reach_um(1e-6)) == pytest.approx(1e-6)


def test_trenches_cut_crosstalk_by_their_factor():
    plain, trench = Thermal(), Thermal(trenches=True, trench_factor=0.1)
    assert trench.coupling(40.0) == pytest.approx(0.1 * plain.coupling(40.0))


@pytest.mark.parametrize("thermal, factor", [
    (Thermal(), 8),  # 1/d^2 tail: the many far heaters still add up
    (Thermal(kernel="exponential", kappa=0.3, decay_length_um=30.0), 100),
])
def test_drawn_floorplan_has_far_less_crosstalk_than_the_dense_grid(thermal, factor):
    """MZI heaters: ~800 um columns put the nearest neighbours >= 200 um apart, the 100 x 127 um grid ~60 um."""
    worst = {}
    for label, (px, py) in {"grid": (100.0, 127.0), "drawn": (800.0, 100.0)}.items():
        names, pos = mesh_positions(px, py)
        K = crosstalk_matrix(names, pos, thermal)
        mzi = [i for i, name in enumerate(names) if name.startswith("mzi_")]
        worst[label] = np.max(K[mzi].sum(axis=1) - 1.0)
    assert worst["drawn"] < worst["grid"] / factor
    assert worst["drawn"] < 0.005


def test_crosstalk_mixes_phases_and_needs_every_position():
    names, pos = mesh_positions(100.0, 127.0)
    K = crosstalk_matrix(names, pos, Thermal())
    phase = np.zeros(len(names))
    phase[0] = 1.0
    mixed = apply_crosstalk(phase, K)
    assert mixed[0] == 1.0 and np.all(mixed[1:] >= 0) and mixed[1:].max() > 0
    np.testing.assert_allclose(apply_crosstalk(phase, np.eye(len(names))), phase)
    with pytest.raises(UserInputError, match="no position for heater"):
        crosstalk_matrix(names + ["ghost"], pos, Thermal())


# ---------------------------------------------------------------- budget
def test_dbm_and_mw_are_inverse():
    assert dbm(1.0) == pytest.approx(0.0)
    assert dbm(10.0) == pytest.approx(10.0)
    np.testing.assert_allclose(mw(dbm(np.array([0.01, 0.5, 20.0]))), [0.01, 0.5, 20.0])


def test_path_loss_adds_its_parts():
    b = Budget(io_coupler_loss_dB=2.5, mmi_excess_loss_dB=0.3, bend_loss_dB=0.013, crossing_loss_dB=0.3,
               propagation_loss_dB_per_cm=2.5, heater_section_loss_dB=0.23)
    loss = b.path_loss_dB({"io_couplers": 1, "mmis": 4, "bends": 10, "crossings": 2, "heater_sections": 3, "length_cm": 0.2})
    assert loss == pytest.approx(2.5 + 1.2 + 0.13 + 0.6 + 0.69 + 0.5)
    with pytest.raises(UserInputError, match="unknown path part 'tapers'"):
        b.path_loss_dB({"tapers": 1})
    with pytest.raises(UserInputError, match="path mmis"):
        b.path_loss_dB({"mmis": -1})


def test_mean_detector_power():
    assert mean_detector_power_mW(10.0, 8, 10.0) == pytest.approx(0.125)
    b = Budget()
    counts = mesh_path_counts(8, 800.0)
    assert counts["mmis"] == 16 and counts["length_cm"] == pytest.approx(0.64)
    loss = b.path_loss_dB(counts)
    assert b.mean_detector_power_mW(8, loss) == pytest.approx(b.laser_power_mW * 10 ** (-loss / 10) / 8)
    with pytest.raises(UserInputError, match="n_ports"):
        mean_detector_power_mW(10.0, 0, 3.0)


# ---------------------------------------------------------------- clock and drift
def test_lab_clock_charges_latency_plus_settings():
    clock = LabClock(Clock(call_latency_s=1e-3), settle_s=10e-6, integration_s=5e-9)
    assert clock.advance(64) == pytest.approx(1e-3 + 64 * (10e-6 + 5e-9))
    clock.advance(0)
    assert clock.elapsed_s == pytest.approx(2e-3 + 64 * (10e-6 + 5e-9))


def run_drift(n_settings, clock_params, n_calls=100, n_heaters=20_000, seed=0):
    rng = np.random.default_rng(seed)
    clock = LabClock(clock_params, settle_s=10e-6, integration_s=5e-9)
    offsets = np.zeros(n_heaters)
    for _ in range(n_calls):
        offsets = drift_offsets(offsets, clock.advance(n_settings), clock_params, rng)
    return offsets, clock.elapsed_s


def test_drift_variance_grows_with_lab_seconds_not_calls():
    params = Clock(call_latency_s=0.0, drift_sigma_rad_per_sqrt_s=1e-2)
    many, t_many = run_drift(64, params)
    one, t_one = run_drift(1, params)
    assert t_many == pytest.approx(64 * t_one)
    assert np.var(many) / np.var(one) == pytest.approx(64, rel=0.05)
    assert np.var(many) == pytest.approx(drift_variance_rad2(t_many, params), rel=0.05)
    # a per-call latency is lab time too: it shrinks the ratio below 64
    slow = Clock(call_latency_s=1e-3, drift_sigma_rad_per_sqrt_s=1e-2)
    ratio = np.var(run_drift(64, slow)[0]) / np.var(run_drift(1, slow)[0])
    assert ratio < 5


def test_linear_thermal_drift_is_rate_times_seconds():
    params = Clock(drift_sigma_rad_per_sqrt_s=0.0, drift_rate_rad_per_s=0.5)
    offsets, elapsed = run_drift(3, params, n_calls=7, n_heaters=4)
    np.testing.assert_allclose(offsets, 0.5 * elapsed)


# ---------------------------------------------------------------- activation
def test_activation_gain_and_bias_from_physical_parameters():
    act = Activation(tap_fraction=0.1, responsivity_A_per_W=0.8, tia_gain_ohm=10e3, v_pi_V=10.0, bias_V=5.0)
    assert act.gain_rad_per_mW == pytest.approx(math.pi * 0.1 * 0.8 * 10e3 / 10.0 * 1e-3)
    assert act.bias_phase_rad == pytest.approx(math.pi / 2)
    assert act.monitor_current_uA(1.0) == pytest.approx(80.0)


def test_activation_transfer_matches_williamson_form():
    act = Activation(tia_gain_ohm=2e5, bias_V=7.0)
    z = np.array([0.0, 0.3 + 0.1j, -0.5j, 1.2])
    p = np.abs(z) ** 2
    dphi = act.bias_phase_rad + act.gain_rad_per_mW * p
    expected = 1j * np.sqrt(0.9) * np.exp(-0.5j * dphi) * np.cos(0.5 * dphi) * z
    np.testing.assert_allclose(act(z), expected)
    np.testing.assert_allclose(np.abs(act(z)) ** 2, act.output_power_mW(p))
    # same cell as the chip's EOActivation, up to the port-independent factor j
    np.testing.assert_allclose(act(z), 1j * EOActivation(**act.eo_params())(z))


def test_activation_is_linear_without_tia_gain():
    act = Activation(tia_gain_ohm=0.0, bias_V=3.0)
    z = np.array([0.1, 1.0, 3.0 + 1j])
    half = 0.5 * act.bias_phase_rad
    np.testing.assert_allclose(act(z), 1j * np.sqrt(0.9) * np.exp(-1j * half) * np.cos(half) * z)


def test_operating_point_makes_the_cell_nonlinear_at_the_signal_power():
    act = Activation(phase_swing_rad=math.pi).operating_point(0.05)
    assert act.gain_rad_per_mW * 0.05 == pytest.approx(math.pi)
    assert act.bias_phase_rad == pytest.approx(math.pi)
    assert act.output_power_mW(0.0) == 0.0
    assert act.output_power_mW(0.05) == pytest.approx(0.9 * 0.05)  # fully open at the mean power
    assert act.output_power_mW(0.025) == pytest.approx(0.9 * 0.025 * 0.5)  # half as open half way
    p_in, p_out = act.curve(0.05, n_points=50)
    assert p_in[0] == 0.0 and p_in[-1] == pytest.approx(0.05) and np.all(np.diff(p_out) > 0)
    with pytest.raises(UserInputError, match="mean_input_mW"):
        act.operating_point(0.0)


def test_the_default_operating_point_stays_monotonic_up_to_four_times_the_mean_power():
    act = Activation().operating_point(0.05)  # swing pi/4 at the mean: the bright ports of a trained layer still pass
    assert act.gain_rad_per_mW * 0.05 == pytest.approx(math.pi / 4)
    p_in, p_out = act.curve(4 * 0.05, n_points=200)
    assert np.all(np.diff(p_out) > 0) and p_out[-1] == pytest.approx(0.9 * 0.2)  # fully open at 4x the mean
    assert act.output_power_mW(0.05) < 0.2 * 0.9 * 0.05  # and nonlinear where the signals are (sin^2(pi/8) = 0.15)
    with pytest.raises(UserInputError, match="phase_swing_rad"):
        Activation(phase_swing_rad=0.0)
