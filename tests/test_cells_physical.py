"""Drawn cells of the buildable chip (EO activation, coherent input): netlist == model, drive matters, pads wired."""

from __future__ import annotations

import math

import gdsfactory as gf
import jax
import klayout.db as kdb
import numpy as np
import pytest
import sax

from ffzero_photonics.components import cell_models as cm
from ffzero_photonics.components.activation_cell import DEVICE_LABEL_LAYER, PAD_LABEL_LAYER, eo_activation
from ffzero_photonics.components.input_cells import coherent_input
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts import layers as layout_layers
from ffzero_photonics.photonic.physics.activation import Activation
from ffzero_photonics.photonic.physics.figures import activation_curve_figure
from ffzero_photonics.photonic.physics.heaters import Heaters

LOSSY = dict(loss_dB_cm=2.5, mmi_loss_dB=0.3)
pytestmark = pytest.mark.filterwarnings("ignore:Unconnected ports")


@pytest.fixture(scope="module", autouse=True)
def pdk():
    layout_layers.ensure_pdk()


@pytest.fixture(scope="module")
def activation_cell():
    return eo_activation(modulator_length=400.0)


@pytest.fixture(scope="module")
def activation_circuit(activation_cell):
    with jax.enable_x64(True):
        circuit, _ = sax.circuit(cm.sax_netlist(activation_cell.get_netlist()), models=cm.DEVICE_MODELS,
                                 backend="klu")
    return circuit


def _drawn_activation(circuit, cell, power_mW, wl=1.55, **settings):
    """The drawn cell's o1->o2 at the drive the tapped power sets (tapped fraction from the drawn coupler)."""
    with jax.enable_x64(True):
        kappa = float(cm.coupling_from_geometry(0.3, cell.info["tap_length_um"], wl=wl))
        kappa *= 10 ** (-settings.get("tap_loss_dB", 0.0) / 10)
        volts = cm.eo_drive_voltage_V(power_mW, tapped_fraction=kappa)
        return complex(circuit(wl=wl, modulator={"voltage_V": volts}, **settings)["o1", "o2"])


# EO activation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wl", [1.55, 1.565])
def test_activation_netlist_equals_model(activation_cell, activation_circuit, wl):
    for power in (0.0, 0.3, 1.0, 2.5, 6.0):
        drawn = _drawn_activation(activation_circuit, activation_cell, power, wl=wl, pn_loss_dB=0.8, tap_loss_dB=0.1, **LOSSY)
        with jax.enable_x64(True):
            model = complex(cm.eo_activation_model(
                wl=wl, input_power_mW=power, modulator_length=400.0, pn_loss_dB=0.8, tap_loss_dB=0.1,
                path_length_um=activation_cell.info["path_length_um"], **LOSSY)["o1", "o2"])
        assert drawn == pytest.approx(model, abs=1e-9)


def test_activation_model_is_the_simulators_activation(activation_cell):
    """Ideal devices and routes: the cell's field is physics.Activation's, up to the arms' constant phase."""
    kappa = float(cm.coupling_from_geometry(0.3, activation_cell.info["tap_length_um"]))
    act = Activation(tap_fraction=kappa).operating_point(1.0)
    settings = dict(tia_gain_ohm=act.tia_gain_ohm, bias_V=act.bias_V, modulator_length=400.0)
    ratios = []
    for power in (0.05, 0.5, 1.0, 1.7, 3.0):
        z = math.sqrt(power)
        with jax.enable_x64(True):
            s = complex(cm.eo_activation_model(input_power_mW=power, **settings)["o1", "o2"])
        assert abs(s * z) ** 2 == pytest.approx(float(act.output_power_mW(power)), abs=1e-12)
        ratios.append(s * z / complex(act(z)))
    np.testing.assert_allclose(ratios, ratios[0], atol=1e-9)
    assert abs(ratios[0]) == pytest.approx(1.0, abs=1e-12)


def test_activation_transmission_depends_on_drive(activation_circuit):
    """An interferometer is drawn: 0 V vs V_pi swings the power by > 20 dB, and the pn loss sets a finite extinction."""
    def power(volts, **kw):
        with jax.enable_x64(True):
            return abs(complex(activation_circuit(modulator={"voltage_V": volts}, **kw)["o1", "o2"])) ** 2

    assert 10 * math.log10(power(0.0) / max(power(10.0), 1e-300)) > 20.0
    er = 10 * math.log10(power(0.0, pn_loss_dB=1.0) / power(10.0, pn_loss_dB=1.0))
    assert er == pytest.approx(cm.mzi_extinction_ratio_dB(1.0), abs=1e-6)
    assert 10 < er < 30


def test_activation_tap_sets_alpha():
    for tap in (0.05, 0.1, 0.2):
        length = cm.tap_coupler_length(tap, 0.3)
        assert float(cm.coupling_from_geometry(0.3, length)) == pytest.approx(tap, rel=1e-3)
    length = cm.tap_coupler_length(0.1, 0.3)
    assert float(cm.coupling_from_geometry(0.3, length, wl=1.58)) > float(cm.coupling_from_geometry(0.3, length, wl=1.52))
    c = eo_activation(tap_fraction=0.2, modulator_length=400.0)
    assert c.info["tap_length_um"] == cm.tap_coupler_length(0.2, 0.3)
    assert c.info["tap_length_um"] > eo_activation(modulator_length=400.0).info["tap_length_um"]


def test_activation_ports_and_labels(activation_cell):
    names = {p.name for p in activation_cell.ports}
    assert names == {"o1", "o2", "pd_k", "pd_a", "tia_out", "bias"}
    assert activation_cell.ports["o1"].orientation == 180 and activation_cell.ports["o2"].orientation == 0
    texts = _labels(activation_cell)
    assert {t for t, layer in texts if layer == PAD_LABEL_LAYER} == {"act_pd_k", "act_pd_a", "act_tia_out", "act_bias"}
    assert {t for t, layer in texts if layer == DEVICE_LABEL_LAYER} == {"act", "act_pd"}
    assert (DEVICE_LABEL_LAYER, PAD_LABEL_LAYER) == (layout_layers.HEATER_LABEL_LAYER, layout_layers.PAD_LABEL_LAYER)


def test_activation_every_pad_reaches_one_device(activation_cell):
    _assert_pads_wired(activation_cell, devices={"pd", "modulator"}, n_pads=4)


@pytest.mark.parametrize("kwargs", [dict(tap_fraction=1.5), dict(tap_fraction=0.01, tap_gap=0.1),
                                    dict(pad_pitch=40.0), dict(arm_spacing=20.0)])
def test_activation_bad_parameters_name_the_value(kwargs):
    with pytest.raises(UserInputError, match=str(next(iter(kwargs.values())))):
        eo_activation(modulator_length=400.0, **kwargs)


# coherent input ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[(4, 127.0), (3, 100.0)])
def input_cell(request):
    n, pitch = request.param
    cell = coherent_input(n_ports=n, pitch=pitch)
    with jax.enable_x64(True):
        circuit, _ = sax.circuit(cm.sax_netlist(cell.get_netlist()), models=cm.DEVICE_MODELS, backend="klu")
    return n, cell, circuit


def _drawn_input(circuit, n, amplitudes, bits, **settings):
    theta, sign = cm.dac_phases(amplitudes, Heaters(dac_bits=bits))
    phases = {f"amp_{k}": {"phase": theta[k]} for k in range(n)} | {f"sign_{k}": {"phase": sign[k]} for k in range(n)}
    with jax.enable_x64(True):
        s = circuit(**phases, **settings)
        return np.array([complex(s["fiber", f"o{k + 1}"]) for k in range(n)])


def test_input_netlist_equals_model(input_cell):
    n, cell, circuit = input_cell
    amps = np.array([0.9, -0.35, 0.0, -1.0])[:n]
    settings = dict(wl=1.556, gc_loss_dB=2.5, heater_loss_dB=0.23, mmi_imbalance_dB=0.4, **LOSSY)
    drawn = _drawn_input(circuit, n, amps, 6, **settings)
    with jax.enable_x64(True):
        s = cm.coherent_input_model(n_ports=n, amplitudes=amps, dac_bits=6,
                                    path_length_um=cell.info["path_length_um"], **settings)
        model = np.array([complex(s["fiber", f"o{k + 1}"]) for k in range(n)])
    np.testing.assert_allclose(drawn, model, atol=1e-9)


def test_input_fields_follow_signed_amplitudes(input_cell):
    """Ideal devices: every port gets 1/2^levels of the light, times its signed amplitude up to the DAC step."""
    n, _, circuit = input_cell
    amps = np.array([0.8, -0.5, 0.1, -0.95])[:n]
    ones = _drawn_input(circuit, n, np.ones(n), 12)
    np.testing.assert_allclose(np.abs(ones) ** 2, 0.25, atol=1e-6)
    errors = {}
    for bits in (4, 12):
        fields = _drawn_input(circuit, n, amps, bits) / ones
        errors[bits] = np.max(np.abs(fields - amps))
    assert errors[12] < 5e-3
    assert errors[4] > errors[12]


def test_input_ports_pitch_and_pads(input_cell):
    n, cell, _ = input_cell
    ys = [cell.ports[f"o{k + 1}"].y for k in range(n)]
    np.testing.assert_allclose(np.diff(ys), -cell.info["pitch"], atol=1e-3)
    assert all(cell.ports[f"o{k + 1}"].orientation == 0 for k in range(n))
    pads = {f"in{k}_{r}{g}" for k in range(n) for r in ("amp", "sign") for g in ("", "_gnd")}
    assert {p.name for p in cell.ports if p.port_type == "pad"} == pads
    assert {t for t, layer in _labels(cell) if layer == PAD_LABEL_LAYER} == pads
    devices = {f"{r}_{k}" for k in range(n) for r in ("amp", "sign")}
    _assert_pads_wired(cell, devices=devices, n_pads=4 * n)


@pytest.mark.parametrize("kwargs", [dict(n_ports=0), dict(pitch=60.0), dict(arm_spacing=5.0)])
def test_input_bad_parameters_name_the_value(kwargs):
    with pytest.raises(UserInputError, match=str(next(iter(kwargs.values())))):
        coherent_input(**kwargs)


def test_dac_phases_errors():
    with pytest.raises(UserInputError, match="1.2"):
        cm.dac_phases([0.5, 1.2])
    with pytest.raises(UserInputError, match="v_max_V=5.0"):
        cm.dac_phases([0.5], Heaters(v_max_V=5.0))


def test_cells_are_named_for_the_pdk_and_models_cover_their_optical_ports(activation_cell, input_cell):
    n, cell, _ = input_cell
    top = gf.Component()
    top.add_ref(activation_cell, name="act")
    top.add_ref(cell, name="src")
    components = {k: v["component"] for k, v in top.get_netlist()["instances"].items()}
    assert components == {"act": "ffzero_eo_activation", "src": "ffzero_coherent_input"}
    for c, model in ((activation_cell, cm.eo_activation_model()), (cell, cm.coherent_input_model(n_ports=n))):
        optical = {p.name for p in c.ports if p.port_type in ("optical", "vertical_te")}
        assert {port for pair in model for port in pair} == optical


# figure ---------------------------------------------------------------------------------------


def test_activation_curve_figure(tmp_path):
    act = Activation().operating_point(0.06)
    path = activation_curve_figure(tmp_path / "activation.png", act, 0.06)
    assert path.exists() and path.stat().st_size > 10_000
    with pytest.raises(UserInputError, match="-1"):
        activation_curve_figure(tmp_path / "bad.png", act, -1.0)


# helpers ---------------------------------------------------------------------------------------


def _labels(cell) -> list[tuple[str, tuple[int, int]]]:
    out = []
    for layer in (DEVICE_LABEL_LAYER, PAD_LABEL_LAYER):
        for shape in cell.shapes(cell.kcl.layer(*layer)).each():
            if shape.is_text():
                out.append((shape.text_string, layer))
    return out


def _assert_pads_wired(cell, devices: set[str], n_pads: int) -> None:
    """Merged routing metal: one island per pad, each holding exactly one pad and some device's electrode."""
    metal = gf.get_layer(gf.get_cross_section("metal_routing").layer)
    everything = kdb.Region(cell.begin_shapes_rec(metal)).merged()

    def region_of(names):
        r = kdb.Region()
        for inst in cell.insts:
            if inst.name in names:
                r += kdb.Region(inst.cell.begin_shapes_rec(metal)).transformed(inst.trans)
        return r

    pads = region_of({i.name for i in cell.insts if i.name.startswith("pad_")})
    electrodes = region_of(devices)
    assert pads.merged().count() == n_pads
    islands = list(everything.each())
    assert len(islands) == n_pads
    for island in islands:
        one = kdb.Region(island)
        assert pads.interacting(one).merged().count() == 1
        assert electrodes.interacting(one).count() >= 1
