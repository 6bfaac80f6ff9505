"""Device models: S-parameters against the project's closed-form conventions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sax

from ffzero_photonics.components import models as M
from ffzero_photonics.photonic.compiled import mzi_coefficients

BS = np.array([[1, 1j], [1j, 1]]) / np.sqrt(2)


def T(theta, phi):
    return BS @ np.diag([np.exp(1j * theta), 1]) @ BS @ np.diag([np.exp(1j * phi), 1])


def two_by_two(s) -> np.ndarray:
    """(upper, lower) transfer matrix of a 2x2 SDict: upper = o2 in / o3 out, lower = o1 in / o4 out."""
    g = lambda a, b: complex(s.get((a, b), 0.0))  # noqa: E731
    return np.array([[g("o2", "o3"), g("o1", "o3")], [g("o2", "o4"), g("o1", "o4")]])


def assert_reciprocal(s):
    for (a, b), v in s.items():
        assert complex(s[(b, a)]) == pytest.approx(complex(v), abs=1e-15)


def power_out(s, port, outs):
    return sum(abs(complex(s.get((port, o), 0.0))) ** 2 for o in outs)


# coupler ---------------------------------------------------------------


@pytest.mark.parametrize("kappa", [0.0, 0.1, 0.5, 0.73, 1.0])
def test_coupler_matches_formula_and_conserves_power(kappa):
    s = M.coupler(coupling=kappa)
    assert_reciprocal(s)
    expected = np.array([[np.sqrt(1 - kappa), 1j * np.sqrt(kappa)], [1j * np.sqrt(kappa), np.sqrt(1 - kappa)]])
    np.testing.assert_allclose(two_by_two(s), expected, atol=1e-12)
    for port in ("o1", "o2"):
        assert power_out(s, port, ("o3", "o4")) == pytest.approx(1.0, abs=1e-12)
        assert power_out(s, port, ("o1", "o2")) == 0.0


def test_ideal_coupler_is_bs():
    np.testing.assert_allclose(two_by_two(M.coupler()), BS, atol=1e-12)


def test_coupler_port_mapping_to_simphony():
    from simphony.libraries import ideal

    raw = ideal.coupler(coupling=0.3)
    ours = M.coupler(coupling=0.3)
    for a, b in [("o0", "o1"), ("o0", "o3"), ("o2", "o1"), ("o2", "o3")]:
        mapping = {"o0": "o1", "o2": "o2", "o3": "o3", "o1": "o4"}
        assert complex(ours[(mapping[a], mapping[b])]) == pytest.approx(complex(raw[(a, b)]), abs=1e-15)


@pytest.mark.parametrize("loss_dB", [0.1, 1.0, 3.0])
def test_coupler_loss(loss_dB):
    s = M.coupler(coupling=0.4, loss_dB=loss_dB)
    for port in ("o1", "o2"):
        assert power_out(s, port, ("o3", "o4")) == pytest.approx(10 ** (-loss_dB / 10), rel=1e-12)


def test_coupler_broadcasts_over_wavelength():
    s = M.coupler(wl=np.linspace(1.5, 1.6, 5))
    assert np.shape(s[("o2", "o3")]) == (5,)


# heater and waveguide ---------------------------------------------------


@pytest.mark.parametrize("phase", [0.0, 0.4, np.pi, 5.9])
def test_heater(phase):
    s = M.heater(phase=phase)
    assert_reciprocal(s)
    assert complex(s[("o1", "o2")]) == pytest.approx(np.exp(1j * phase), abs=1e-15)
    lossy = M.heater(phase=phase, loss_dB=0.5)
    assert abs(complex(lossy[("o1", "o2")])) ** 2 == pytest.approx(10 ** (-0.05), rel=1e-12)


def test_heater_parameter_is_not_phi():
    """A global ``phi`` in a sax call must never collide with a heater setting."""
    import inspect

    assert "phi" not in inspect.signature(M.heater).parameters
    assert "phi" not in inspect.signature(M.coupler).parameters


def test_waveguide_phase_loss_and_dispersion():
    length, neff, ng, wl0 = 37.0, 2.34, 3.4, 1.55
    s = M.waveguide(wl=wl0, wl0=wl0, neff=neff, ng=ng, length=length)
    assert_reciprocal(s)
    assert complex(s[("o1", "o2")]) == pytest.approx(np.exp(2j * np.pi * neff * length / wl0), abs=1e-12)
    # group index: d(phase)/d(wl) = -2 pi ng L / wl^2 at wl0
    h = 1e-6
    s_pm = [M.waveguide(wl=w, wl0=wl0, neff=neff, ng=ng, length=length)[("o1", "o2")] for w in (wl0 - h, wl0 + h)]
    ph = [np.angle(complex(v)) for v in s_pm]
    dphase = np.angle(np.exp(1j * (ph[1] - ph[0]))) / (2 * h)
    assert dphase == pytest.approx(-2 * np.pi * ng * length / wl0**2, rel=1e-6)
    lossy = M.waveguide(length=5000.0, loss_dB_cm=2.0)  # 0.5 cm -> 1 dB
    assert abs(complex(lossy[("o1", "o2")])) ** 2 == pytest.approx(10 ** (-0.1), rel=1e-12)


# MZI -------------------------------------------------------------------


@pytest.mark.parametrize("theta,phi", list(itertools.product([0.0, 0.9, np.pi, 4.4], [0.0, 2.1, -1.3])))
def test_mzi_equals_formula(theta, phi):
    s = M.mzi(theta=theta, phi=phi)
    assert_reciprocal(s)
    np.testing.assert_allclose(two_by_two(s), T(theta, phi), atol=1e-12)


def test_mzi_bar_and_cross_states():
    cross = np.abs(two_by_two(M.mzi(theta=0.0))) ** 2
    bar = np.abs(two_by_two(M.mzi(theta=np.pi))) ** 2
    np.testing.assert_allclose(cross, [[0, 1], [1, 0]], atol=1e-12)
    np.testing.assert_allclose(bar, [[1, 0], [0, 1]], atol=1e-12)


def test_nonideal_mzi_matches_closed_form_and_loss():
    theta, phi, c_in, c_out, loss = 1.1, 0.3, 0.46, 0.53, 0.8
    s = M.mzi(theta=theta, phi=phi, coupling=c_in, coupling_out=c_out, loss_dB=loss)
    a, b = mzi_coefficients([[c_in, c_out]], [loss])
    t = (a[:, 0] * np.exp(1j * theta) + b[:, 0]) * np.array([np.exp(1j * phi), 1, np.exp(1j * phi), 1])
    np.testing.assert_allclose(two_by_two(s), t.reshape(2, 2), atol=1e-12)
    lossless = M.mzi(theta=theta, phi=phi, coupling=c_in, coupling_out=c_out)
    for port in ("o1", "o2"):
        assert power_out(lossless, port, ("o3", "o4")) == pytest.approx(1.0, abs=1e-12)
        assert power_out(s, port, ("o3", "o4")) == pytest.approx(10 ** (-loss / 10), rel=1e-12)


def test_mzi_netlist_shape():
    net = M.mzi_netlist()
    assert {i["component"] for i in net["instances"].values()} == {"mmi2x2", "heater"}
    assert set(net["ports"]) == {"o1", "o2", "o3", "o4"}


def test_models_compose_in_any_sax_circuit():
    """Two MZIs in series through MODELS equal the product of their T matrices."""
    net = {
        "instances": {"a": {"component": "mzi"}, "b": {"component": "mzi"}},
        "connections": {"a,o3": "b,o2", "a,o4": "b,o1"},
        "ports": {"o1": "a,o1", "o2": "a,o2", "o3": "b,o3", "o4": "b,o4"},
    }
    circuit, _ = sax.circuit(net, models=M.MODELS, backend="klu")
    s = circuit(a={"theta": 0.7, "phi": 1.2}, b={"theta": 2.5, "phi": -0.4})
    np.testing.assert_allclose(two_by_two(s), T(2.5, -0.4) @ T(0.7, 1.2), atol=1e-12)


def test_mzi_netlist_circuit_with_models():
    circuit, _ = sax.circuit(M.mzi_netlist(), models=M.MODELS, backend="klu")
    s = circuit(ps_ext={"phase": 0.5}, ps_int={"phase": 2.0})
    np.testing.assert_allclose(two_by_two(s), T(2.0, 0.5), atol=1e-12)


# wavelength --------------------------------------------------------------


def test_heater_phase_scales_as_design_over_operating_wavelength():
    for wl in (1.5, 1.55, 1.6):
        assert complex(M.heater(wl=wl, phase=2.0)[("o1", "o2")]) == pytest.approx(np.exp(2j * 1.55 / wl), abs=1e-15)


def test_mmi_splitting_follows_wavelength_and_stays_lossless():
    assert float(M.mmi_coupling(0.5, 1.55)) == pytest.approx(0.5, abs=1e-15)
    assert float(M.mmi_coupling(0.5, 1.56)) > 0.5 > float(M.mmi_coupling(0.5, 1.54))
    for wl in (1.50, 1.56, 1.62):
        s = M.mmi2x2(wl=wl)
        k = float(M.mmi_coupling(0.5, wl))
        expected = np.array([[np.sqrt(1 - k), 1j * np.sqrt(k)], [1j * np.sqrt(k), np.sqrt(1 - k)]])
        np.testing.assert_allclose(two_by_two(s), expected, atol=1e-12)
    banded = M.mmi2x2(wl=1.6, fwhm_um=0.1)
    assert power_out(banded, "o1", ("o3", "o4")) == pytest.approx(0.5, rel=1e-9)  # half power at fwhm / 2


@pytest.mark.parametrize("wl", [1.53, 1.56, 1.6])
def test_mzi_at_wavelength_is_the_closed_form_of_its_mmis_and_heaters(wl):
    theta, phi = 1.1, 0.4
    s = M.mzi(wl=wl, theta=theta, phi=phi, coupling=0.48)
    scale = 1.55 / wl
    k = float(M.mmi_coupling(0.48, wl))
    a, b = mzi_coefficients([[k, k]], [0.0])
    t = (a[:, 0] * np.exp(1j * theta * scale) + b[:, 0]) * np.exp(1j * phi * scale * np.array([1, 0, 1, 0]))
    np.testing.assert_allclose(two_by_two(s), t.reshape(2, 2), atol=1e-12)
    u = two_by_two(s)
    np.testing.assert_allclose(u.conj().T @ u, np.eye(2), atol=1e-12)
    assert not np.allclose(u, two_by_two(M.mzi(theta=theta, phi=phi, coupling=0.48)), atol=1e-3)


# electrical helpers ----------------------------------------------------


def test_heater_power_phase_round_trip():
    assert M.phase_from_power(20.0, p_pi_mW=20.0) == pytest.approx(np.pi)
    assert M.phase_from_power(0.0, p_pi_mW=20.0, phase0=0.3) == pytest.approx(0.3)
    phases = np.array([0.0, 1.0, np.pi, 6.0, -1.0, 7.0])
    p = M.power_for_phase(phases, p_pi_mW=25.0)
    assert np.all((p >= 0) & (p < 50.0))
    back = M.phase_from_power(p, p_pi_mW=25.0)
    np.testing.assert_allclose(np.exp(1j * back), np.exp(1j * phases), atol=1e-12)
    assert M.power_for_phase(-0.5 * np.pi, p_pi_mW=20.0) == pytest.approx(30.0)


def test_voltage_power_round_trip_and_errors():
    v = np.array([0.0, 1.5, 3.0])
    p = M.power_from_voltage(v, resistance_ohm=500.0)
    np.testing.assert_allclose(p, 1e3 * v**2 / 500.0)
    np.testing.assert_allclose(M.voltage_from_power(p, resistance_ohm=500.0), v)
    with pytest.raises(ValueError, match="-1"):
        M.voltage_from_power(-1.0, resistance_ohm=500.0)
    with pytest.raises(ValueError, match="0"):
        M.power_from_voltage(1.0, resistance_ohm=0.0)
    with pytest.raises(ValueError, match="-2"):
        M.phase_from_power(1.0, p_pi_mW=-2.0)


def test_detector_current():
    assert M.detector_current(2e-3, responsivity_A_W=0.8) == pytest.approx(1.6e-3)
