"""The numpy simulation of an extracted layer (tapeout.propagate) against the device models and the sax netlist."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ffzero_photonics.components.models import heater, mzi, waveguide
from ffzero_photonics.layouts.extract import LayerCircuit, extract_layout
from ffzero_photonics.photonic.mesh_spec import clements
from ffzero_photonics.tapeout import export_chip
from ffzero_photonics.tapeout.drive import heater_drive
from ffzero_photonics.tapeout.heater_table import read_heater_table
from ffzero_photonics.tapeout.paths import cell_paths
from ffzero_photonics.tapeout.propagate import NotFeedForward, layer_plan, propagate_layer
from ffzero_photonics.tapeout.simulate import simulate_layer


def _extraction(elements: dict[str, str], routes: dict, sources: list, sinks: list, lengths=(7.0, 11.0)):
    """A hand-made one-layer extraction (what ``propagate`` reads of a ``LayoutExtraction``)."""
    circ = LayerCircuit(list(elements), sources, sinks, [lengths[0]] * len(sources), [lengths[1]] * len(sinks), routes)
    return SimpleNamespace(layers=[circ], kinds=elements, n_ports=len(sources))


def _wg(length, wl, neff=2.34, loss=0.0) -> complex:
    return complex(waveguide(wl=wl, length=length, neff=neff, loss_dB_cm=loss)["o1", "o2"])


@pytest.mark.parametrize("wl", [1.55, 1.5531])
def test_one_mzi_is_the_sax_mzi_model_between_its_routes(wl):
    ex = _extraction({"m": "mzi"}, {}, ["m,o2", "m,o1"], ["m,o3", "m,o4"])
    drive = {("m", "theta"): 0.7, ("m", "phi"): 2.1}
    s = mzi(theta=0.7, phi=2.1, wl=wl)
    t = np.array([[s["o2", "o3"], s["o1", "o3"]], [s["o2", "o4"], s["o1", "o4"]]], dtype=complex)
    np.testing.assert_allclose(propagate_layer(ex, 0, drive, routes=False, wl=wl), t, atol=1e-12)
    routed = propagate_layer(ex, 0, drive, routes=True, wl=wl, loss_dB_cm=3.0)
    np.testing.assert_allclose(routed, t * _wg(7.0, wl, loss=3.0) * _wg(11.0, wl, loss=3.0), atol=1e-12)


def test_drawn_cell_paths_add_their_waveguides():
    """A screen heater's through path and an MZI's unequal arms: the heater and waveguide models in series."""
    ex = _extraction({"h": "heater"}, {}, ["h,o1"], ["h,o2"], lengths=(0.0, 0.0))
    u = propagate_layer(ex, 0, {("h", "phi"): 0.4}, routes=True, wl=1.552, cell_paths={"h": {"through": 123.4}})
    assert u[0, 0] == pytest.approx(complex(heater(phase=0.4, wl=1.552)["o1", "o2"]) * _wg(123.4, 1.552), abs=1e-12)
    ex = _extraction({"m": "mzi"}, {}, ["m,o2", "m,o1"], ["m,o3", "m,o4"])
    paths = {"m": {"in_up": 5.0, "in_lo": 5.0, "arm_up": 300.0, "arm_lo": 300.0 + np.pi / (2 * np.pi * 2.34 / 1.55),
                   "out_up": 9.0, "out_lo": 9.0}}
    u = propagate_layer(ex, 0, {("m", "theta"): 0.0}, routes=False, cell_paths=paths)
    np.testing.assert_allclose(np.abs(u) ** 2, np.eye(2), atol=1e-12)  # half a wavelength longer lower arm: bar


def test_routes_are_followed_as_drawn_and_loops_are_refused():
    """Two heaters in series on port 0, one on port 1; swapping which input feeds which output swaps U's columns."""
    kinds = {"a": "heater", "b": "heater", "c": "heater"}
    ex = _extraction(kinds, {"a,o2": ("b,o1", 20.0)}, ["a,o1", "c,o1"], ["b,o2", "c,o2"])
    drive = {("a", "phi"): 0.3, ("b", "phi"): 0.5, ("c", "phi"): 1.1}
    u = propagate_layer(ex, 0, drive, routes=False)
    np.testing.assert_allclose(u, np.diag(np.exp(1j * np.array([0.8, 1.1]))), atol=1e-12)
    swapped = _extraction(kinds, {"a,o2": ("b,o1", 20.0)}, ["c,o1", "a,o1"], ["b,o2", "c,o2"])
    np.testing.assert_allclose(propagate_layer(swapped, 0, drive, routes=False), u[:, ::-1], atol=1e-12)
    assert [name for name, _ in layer_plan(ex, 0).order].index("a") < [name for name, _ in layer_plan(ex, 0).order].index("b")
    with pytest.raises(NotFeedForward, match="loop"):
        layer_plan(_extraction(kinds, {"a,o2": ("b,o1", 1.0), "b,o2": ("a,o1", 1.0)}, ["c,o1"], ["c,o2"]), 0)
    with pytest.raises(NotFeedForward, match="b,o2 is used as an element input"):
        layer_plan(_extraction(kinds, {"a,o2": ("b,o2", 1.0)}, ["a,o1", "c,o1"], ["b,o1", "c,o2"]), 0)


@pytest.fixture(scope="module")
def chip8(tmp_path_factory):
    """An exported one-layer N=8 Clements chip at random phases (routes and drawn cells as exported)."""
    spec = clements(8)
    params = np.random.default_rng(3).uniform(0, 2 * np.pi, spec.n_params)
    result = export_chip(spec, params, tmp_path_factory.mktemp("chip8") / "chip.gds")
    extraction = extract_layout(result.gds_path, n_layers=1)
    drive, errors = heater_drive(extraction, read_heater_table(result.csv_path))
    assert errors == [] and extraction.errors == []
    return extraction, drive


def test_numpy_equals_the_sax_netlist_on_an_extracted_n8_chip(chip8):
    extraction, drive = chip8
    paths = cell_paths(extraction)
    for kw in ({"routes": True, "cell_paths": paths},
               {"routes": True, "cell_paths": paths, "wl": 1.5471, "neff": 2.3412, "loss_dB_cm": 2.0}):
        fast = propagate_layer(extraction, 0, drive, **kw)
        assert np.max(np.abs(fast - simulate_layer(extraction, 0, drive, **kw))) < 1e-10, kw
        assert 0.5 < np.linalg.norm(fast, 2) <= 1 + 1e-12
