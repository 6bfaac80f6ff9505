"""The ffzero PDK (cells + sax models) and post-layout verification of an exported GDS against its trained run."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import gdsfactory as gf
import numpy as np
import pytest
import sax

from ffzero_photonics import pdk as fpdk
from ffzero_photonics.components.models import mzi
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import extract_layout, layout_route_lengths, pad_positions
from ffzero_photonics.layouts.floorplan import chip_links
from ffzero_photonics.layouts.layers import PAD_LABEL_LAYER
from ffzero_photonics.layouts.mesh_layout import chip_layout
from ffzero_photonics.photonic.compiled import (
    CompiledMesh,
    compensate_route_phases,
    route_kwargs,
    route_phases_from_lengths,
)
from ffzero_photonics.photonic.mesh_spec import build_mesh
from ffzero_photonics.runs import RunSpec, load_run, train_run
from ffzero_photonics.tapeout import export_chip, export_run, verify_run
from ffzero_photonics.tapeout.drive import heater_drive
from ffzero_photonics.tapeout.heater_table import read_heater_table
from ffzero_photonics.tapeout.simulate import simulate_layer
from ffzero_photonics.tapeout.verify import LayoutNetwork
from ffzero_photonics.trainer import TrainConfig


@pytest.fixture(scope="module")
def ffzero_pdk():
    """The ffzero PDK active for this module; whatever was active before is restored."""
    try:
        previous = gf.get_active_pdk()
    except ValueError:
        previous = None
    fpdk.PDK.activate()
    yield fpdk.PDK
    if previous is not None:
        previous.activate(force=True)


def _T(theta: float, phi: float) -> np.ndarray:
    s = mzi(theta=theta, phi=phi)
    return np.array([[s["o2", "o3"], s["o1", "o3"]], [s["o2", "o4"], s["o1", "o4"]]], dtype=complex)


# ---------------------------------------------------------------- PDK


def test_pdk_activates_and_every_cell_has_a_model_or_is_layout_only(ffzero_pdk):
    assert gf.get_active_pdk().name == "ffzero"
    for name in fpdk.CELLS:
        assert name in ffzero_pdk.cells
        assert (name in ffzero_pdk.models) != (name in fpdk.LAYOUT_ONLY), name
        kwargs = {"n_ports": 2} if name == "ffzero_mesh" else {}
        cell = gf.get_component(name, **kwargs)
        optical = fpdk.cell_optical_ports(cell)
        if name in fpdk.LAYOUT_ONLY:
            assert optical == set(), f"{name} has optical ports {optical} but no model"
        else:
            assert fpdk.model_ports(name, **kwargs) == optical, name
    for generic in ("straight", "bend_euler", "pad", "mzi", "coupler"):
        assert generic in ffzero_pdk.cells, "the generic PDK's cells stay available"
    for device in ("mzi", "heater", "coupler", "mmi2x2", "waveguide"):
        assert f"ffzero_{device}" in ffzero_pdk.models
    assert all(name.startswith("ffzero_") for name in ffzero_pdk.models), "the plugin registers only names of its own"


def test_activation_leaves_gdsfactory_cells_models_as_they_were():
    """A gdsfactory coupler in a user's circuit is not simulated as our ideal 50:50 after activating our PDK."""
    try:
        previous = gf.get_active_pdk()
    except ValueError:
        previous = None
    gf.gpdk.PDK.activate()
    generic = gf.get_active_pdk()
    before = {name: generic.models.get(name) for name in ("coupler", "straight", "bend_euler", "bend_s", "mzi")}
    try:
        fpdk.PDK.activate()
        active = gf.get_active_pdk()
        assert active.name == "ffzero"
        for name, model in before.items():
            assert active.models.get(name) is model, f"{name}'s model changed on activation"
        top = gf.Component()
        ref = top.add_ref(gf.components.coupler(gap=0.3, length=5), name="dc")
        top.add_ports(ref.ports)
        netlist = top.get_netlist(on_dangling_port="ignore")
        assert netlist["instances"]["dc"]["component"] == "coupler"
        with pytest.raises(UserInputError, match="'coupler' instance with no model"):
            fpdk.optical_netlist(netlist, models=dict(active.models))
        mine = gf.Component()
        ref = mine.add_ref(gf.get_component("ffzero_heater_mzi"), name="m")
        mine.add_ports(ref.ports)
        net = mine.get_netlist(on_dangling_port="ignore")
        assert net["instances"]["m"]["component"] == "ffzero_heater_mzi"
        assert active.models[net["instances"]["m"]["component"]] is mzi, "our cells map to our models"
    finally:
        (previous or generic).activate(force=True)


def test_user_layout_of_pdk_cells_simulates_through_the_pdk_models(ffzero_pdk):
    c = gf.Component()
    a = c.add_ref(gf.get_component("ffzero_heater_mzi"), name="a")
    b = c.add_ref(gf.get_component("ffzero_heater_mzi"), name="b")
    b.connect("o2", a.ports["o3"])
    assert np.allclose(b.ports["o1"].center, a.ports["o4"].center), "equal port spacing: o4 meets o1"
    for port, ref, inner in (("o1", a, "o1"), ("o2", a, "o2"), ("o3", b, "o3"), ("o4", b, "o4")):
        c.add_port(port, port=ref.ports[inner])
    circuit, _ = sax.circuit(fpdk.optical_netlist(c.get_netlist(on_dangling_port="ignore")), models=ffzero_pdk.models)
    s = circuit(a={"theta": 0.3, "phi": 1.1}, b={"theta": 2.0, "phi": -0.5})
    u = np.array([[s["o2", "o3"], s["o1", "o3"]], [s["o2", "o4"], s["o1", "o4"]]], dtype=complex)
    np.testing.assert_allclose(u, _T(2.0, -0.5) @ _T(0.3, 1.1), atol=1e-12)

    gap = 40.0
    d = gf.Component()
    a = d.add_ref(gf.get_component("ffzero_heater_mzi"), name="a")
    b = d.add_ref(gf.get_component("ffzero_heater_mzi"), name="b")
    b.dmove((a.ports["o3"].x + gap - b.ports["o2"].x, a.ports["o3"].y - b.ports["o2"].y))
    gf.routing.route_single(d, a.ports["o3"], b.ports["o2"], cross_section="strip")
    gf.routing.route_single(d, a.ports["o4"], b.ports["o1"], cross_section="strip")
    for port, ref, inner in (("o1", a, "o1"), ("o2", a, "o2"), ("o3", b, "o3"), ("o4", b, "o4")):
        d.add_port(port, port=ref.ports[inner])
    circuit, _ = sax.circuit(fpdk.optical_netlist(d.get_netlist(on_dangling_port="ignore")), models=ffzero_pdk.models)
    s = circuit(a={"theta": 0.3, "phi": 1.1}, b={"theta": 2.0, "phi": -0.5})
    u = np.array([[s["o2", "o3"], s["o1", "o3"]], [s["o2", "o4"], s["o1", "o4"]]], dtype=complex)
    route_phase = np.exp(2j * np.pi * 2.34 * gap / 1.55)
    np.testing.assert_allclose(u, route_phase * _T(2.0, -0.5) @ _T(0.3, 1.1), atol=1e-10)


def test_mesh_cell_model_and_optical_netlist(ffzero_pdk):
    spec = build_mesh("clements", 3)
    phases = np.random.default_rng(1).uniform(0, 2 * np.pi, spec.n_params)
    top = gf.Component()
    ref = top.add_ref(gf.get_component("ffzero_mesh", n_ports=3), name="m")
    for k in range(3):
        top.add_port(f"in{k}", port=ref.ports[f"in{k}"])
        top.add_port(f"out{k}", port=ref.ports[f"out{k}"])
    net = fpdk.optical_netlist(top.get_netlist(on_dangling_port="ignore"))
    circuit, _ = sax.circuit(net, models=ffzero_pdk.models)
    s = circuit(m={"phases": phases})
    u = np.array([[s[f"in{i}", f"out{o}"] for i in range(3)] for o in range(3)], dtype=complex)
    np.testing.assert_allclose(u, CompiledMesh(spec).unitary(phases), atol=1e-12)
    with pytest.raises(UserInputError, match="no model"):
        fpdk.optical_netlist({"instances": {"p": {"component": "mystery"}}, "ports": {"o1": "p,o1"}})


@pytest.mark.filterwarnings("ignore:Unconnected ports")
def test_activation_and_input_pdk_models_are_their_drawn_cells(ffzero_pdk):
    """A user's layout of the PDK's activation and input cells simulates through the PDK models to what the
    cells' own drawings simulate to (device netlists), at two wavelengths; the old tap model is gone."""
    import jax

    from ffzero_photonics.components import cell_models as cm

    assert "ffzero_tap_detector" not in ffzero_pdk.models and not hasattr(fpdk, "tap_detector_model")
    act = gf.get_component("ffzero_eo_activation", modulator_length=400.0)
    src = gf.get_component("ffzero_coherent_input", n_ports=2)
    top = gf.Component()
    a = top.add_ref(src, name="src")
    b = top.add_ref(act, name="act")
    b.connect("o1", a.ports["o1"])
    top.add_port("fiber", port=a.ports["fiber"])
    top.add_port("o2", port=b.ports["o2"])
    net = fpdk.optical_netlist(top.get_netlist(on_dangling_port="ignore"))
    with jax.enable_x64(True):
        circuit, _ = sax.circuit(net, models=ffzero_pdk.models, backend="klu", ignore_missing_ports=True)
        act_net, _ = sax.circuit(cm.sax_netlist(act.get_netlist()), models=cm.DEVICE_MODELS, backend="klu")
        src_net, _ = sax.circuit(cm.sax_netlist(src.get_netlist()), models=cm.DEVICE_MODELS, backend="klu")
        for wl in (1.55, 1.56):
            kappa = float(cm.coupling_from_geometry(0.3, act.info["tap_length_um"], wl=wl))  # the tap is dispersive
            s = circuit(wl=wl, src={"amplitudes": [0.6, -0.3]}, act={"input_power_mW": 0.4})
            theta, sign = cm.dac_phases([0.6, -0.3])
            drawn_src = src_net(wl=wl, amp_0={"phase": theta[0]}, amp_1={"phase": theta[1]},
                                sign_0={"phase": sign[0]}, sign_1={"phase": sign[1]})
            volts = cm.eo_drive_voltage_V(0.4, tapped_fraction=kappa)
            drawn_act = act_net(wl=wl, modulator={"voltage_V": volts})
            expected = complex(drawn_src["fiber", "o1"]) * complex(drawn_act["o1", "o2"])
            assert complex(s["fiber", "o2"]) == pytest.approx(expected, abs=1e-9)
    assert abs(complex(fpdk.io_coupler_model(loss_dB=3.0)["fiber", "o1"])) ** 2 == pytest.approx(10 ** -0.3)


def test_mesh_model_depends_on_wavelength(ffzero_pdk):
    spec = build_mesh("clements", 3)
    phases = np.random.default_rng(2).uniform(0, 2 * np.pi, spec.n_params)
    from ffzero_photonics.photonic.netlist import netlist_unitary

    for wl in (1.55, 1.57):
        s = fpdk.mesh_model(wl=wl, n_ports=3, phases=phases)
        u = np.array([[s[f"in{i}", f"out{o}"] for i in range(3)] for o in range(3)], dtype=complex)
        np.testing.assert_allclose(u, netlist_unitary(spec, phases, wl=wl), atol=1e-10)
    assert not np.allclose(u, CompiledMesh(spec).unitary(phases), atol=1e-3)


# ---------------------------------------------------------------- compiled route phases


@pytest.mark.parametrize("topology", ["clements", "reck"])
def test_compiled_route_phases_equal_netlist_with_waveguides(topology):
    from ffzero_photonics.photonic.netlist import compiled_at_wavelength, mesh_netlist, netlist_unitary

    spec = build_mesh(topology, 4)
    rng = np.random.default_rng(7)
    names = [k for k, v in mesh_netlist(spec, with_waveguides=True)["instances"].items() if v["component"] == "waveguide"]
    lengths = {k: rng.uniform(50, 900) for k in names}
    params = rng.uniform(0, 2 * np.pi, spec.n_params)
    coupling = rng.uniform(0.45, 0.55, (spec.n_mzis, 2))
    phase, loss = route_phases_from_lengths(lengths, spec, wl=1.56, loss_dB_cm=2.0)
    params_wl, kwargs = compiled_at_wavelength(spec, params, 1.56, coupling=coupling, lengths_um=lengths, loss_dB_cm=2.0)
    np.testing.assert_allclose(kwargs["route_phase"], phase)
    mesh = CompiledMesh(spec, **kwargs)
    ref = netlist_unitary(
        spec, params, coupling=coupling, wl=1.56, waveguides={k: {"length": v, "loss_dB_cm": 2.0} for k, v in lengths.items()}
    )
    np.testing.assert_allclose(mesh.unitary(params_wl), ref, atol=1e-10)
    np.testing.assert_allclose(np.asarray(mesh.unitary_jax(params_wl)), ref, atol=1e-10)
    x = rng.normal(size=(3, 4)) + 0j
    np.testing.assert_allclose(mesh.propagate(params_wl, x, method="direct"), x @ ref.T, atol=1e-10)

    arbitrary = rng.uniform(0, 2 * np.pi, (spec.n_columns + 1, spec.n_ports))  # idle (column, port) slots too
    fixed = compensate_route_phases(spec, params, arbitrary)
    np.testing.assert_allclose(
        CompiledMesh(spec, route_phase=arbitrary).unitary(fixed), CompiledMesh(spec).unitary(params), atol=1e-12
    )
    assert np.allclose(fixed[0 : 2 * spec.n_mzis : 2], params[0 : 2 * spec.n_mzis : 2]), "theta is untouched"


def test_route_phase_validation():
    spec = build_mesh("clements", 4)
    with pytest.raises(ValueError, match="wg_p9_c1"):
        route_phases_from_lengths({"wg_p9_c1": 10.0}, spec)
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        CompiledMesh(spec, route_phase=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=">= 0"):
        route_phases_from_lengths(-np.ones((5, 4)), spec)


# ---------------------------------------------------------------- verification of a trained chip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained 2-layer N=4 Clements chip on iris, exported: (run_dir, gds, model, metrics)."""
    root = tmp_path_factory.mktemp("verify")
    run = root / "run"
    spec = RunSpec(
        model="photonic", model_options={"ports": 4, "layers": 2}, dataset="iris",
        train=TrainConfig(paradigm="ffzero", epochs=8, batch_size=16, lr=5e-2, optimizer="adam", schedule="cosine"),
    )
    metrics = train_run(spec, run, progress=False, log=lambda m: None)
    _, _, model, _ = load_run(run)
    gds = root / "chip.gds"
    export_chip(list(model.specs), [model.get_params(l) for l in range(model.n_layers)], gds)
    return run, gds, model, metrics


def test_exported_chip_verifies(trained):
    """Route-free: the extracted circuit equals the trained chip to 1e-9 and gives the run's accuracy exactly.

    The Clements layout's routes are unequal (a port skipping a column runs
    pitch + gap); the report shows the phase error they would add.
    """
    run, gds, model, metrics = trained
    report = verify_run(run, gds, route_phases="exclude")
    assert report.passed, report.text()
    assert report.route_phases == "exclude"
    assert max(report.deviation) < 1e-9
    assert report.layout_accuracy == report.trained_accuracy == pytest.approx(metrics["test_accuracy"])
    assert min(report.deviation_routes) > 1e-3
    assert any("unequal routes" in w for w in report.warnings)
    assert "PASS" in report.text() and "2 layers, N=4: 12 MZIs" in report.text()


def test_raw_table_fails_on_the_routed_chip_and_export_run_compensates(trained, tmp_path):
    """By default the verifier checks the routed circuit the fabricated chip computes."""
    run, gds, model, metrics = trained
    raw = verify_run(run, gds)
    assert raw.route_phases == "include" and not raw.passed
    result, compensated = export_run(run, tmp_path / "tapeout.gds")
    assert compensated
    report = verify_run(run, result.gds_path)
    assert report.passed, report.text()
    assert max(report.deviation_routes) < 1e-9
    assert report.layout_accuracy_routes == pytest.approx(metrics["test_accuracy"])
    uncompensated, compensated = export_run(run, tmp_path / "raw.gds", compensate_routes=False)  # --raw-phases
    assert not compensated and not verify_run(run, uncompensated.gds_path).passed


def test_drawn_activation_cells_are_simulated_against_the_runs_activation(trained, tmp_path):
    """The activation cells' model at the run's phase law reproduces its activation; a chip drawn with another
    tap fraction fails verification naming the cell; every metal island of the exported chip is wired."""
    from ffzero_photonics.layouts.lvs import unconnected_metal
    from ffzero_photonics.tapeout.drawn_cells import TEST_POWERS, drawn_activation_power
    from ffzero_photonics.tapeout.export import layout_params

    run, gds, model, _ = trained
    act = model.activation
    expected = np.abs(act(np.sqrt(TEST_POWERS).astype(complex))) ** 2
    drawn = drawn_activation_power({"tap_fraction": act.alpha, "tap_gap": 0.3}, act, TEST_POWERS)
    np.testing.assert_allclose(drawn, expected, atol=2e-3 * expected.max())
    assert unconnected_metal(extract_layout(gds).component) == []
    specs = list(model.specs)
    params = layout_params(specs, [model.get_params(l) for l in range(2)], tap_fraction=0.3)
    wrong = tmp_path / "tap30.gds"
    export_chip(specs, params, wrong, tap_fraction=0.3)
    report = verify_run(run, wrong)
    assert not report.passed
    assert any(e.startswith("activation: drawn cell L0_tap_p0 (tap_fraction 0.3)") for e in report.errors), report.errors


def test_only_a_table_compensated_for_routes_and_cell_paths_verifies(trained, tmp_path):
    """A table compensated for the routes alone fails: the drawn cells' own waveguides (~710 µm per MZI) count too."""
    from ffzero_photonics.tapeout.export import layout_params

    run, gds, model, _ = trained
    extraction = extract_layout(gds, n_layers=2)
    lengths = layout_route_lengths(extraction, model.specs)
    assert lengths[0].shape == (model.specs[0].n_columns + 1, 4)
    assert len(np.unique(lengths[0][1:-1][lengths[0][1:-1] > 0])) > 1, "the layout's routes are unequal"
    fixed = [
        compensate_route_phases(s, model.get_params(l), route_phases_from_lengths(lengths[l], s)[0])
        for l, s in enumerate(model.specs)
    ]
    routes_only = tmp_path / "routes_only.gds"
    export_chip(list(model.specs), fixed, routes_only)
    report = verify_run(run, routes_only, route_phases="include")
    assert not report.passed and min(report.deviation_routes) > 1e-2

    comp = tmp_path / "comp.gds"
    export_chip(list(model.specs), layout_params(model.specs, [model.get_params(l) for l in range(2)]), comp)
    report = verify_run(run, comp, route_phases="include")
    assert report.passed, report.text()
    assert max(report.deviation_routes) < 1e-9
    assert report.layout_accuracy_routes == report.trained_accuracy

    plain = verify_run(run, comp, route_phases="exclude")
    assert not plain.passed
    assert any("L0_mzi_c2_r0_phi is set to" in e for e in plain.errors), plain.errors


def test_chip_with_route_lengths_equals_the_routed_layout(trained):
    """A chip model given the layout's route lengths (what ``PhotonicChip(route_lengths=...)`` passes to
    ``CompiledMesh``) computes exactly what the routed layout does at the uncompensated trained phases."""
    _, gds, model, _ = trained
    extraction = extract_layout(gds, n_layers=2)
    drive, errors = heater_drive(extraction, read_heater_table(gds.with_name("chip_heaters.csv")))
    assert errors == []
    lengths = layout_route_lengths(extraction, model.specs)
    for l, spec in enumerate(model.specs):
        routed = simulate_layer(extraction, l, drive, routes=True)
        chip_mesh = CompiledMesh(spec, **route_kwargs(spec, lengths[l]))
        np.testing.assert_allclose(chip_mesh.unitary(model.get_params(l)), routed, atol=1e-9)
        assert np.max(np.abs(routed - model.unitary(l))) > 1e-2


def test_swapped_waveguide_fails_naming_the_place(trained, tmp_path):
    run, _, model, _ = trained
    links = chip_links(list(model.specs))
    i = links.index(("L0_mzi_c0_r0,o4", "L0_mzi_c1_r1,o2"))
    j = links.index(("L0_mzi_c0_r2,o3", "L0_mzi_c1_r1,o1"))
    links[i], links[j] = ("L0_mzi_c0_r0,o4", "L0_mzi_c1_r1,o1"), ("L0_mzi_c0_r2,o3", "L0_mzi_c1_r1,o2")
    bad = tmp_path / "swapped.gds"
    export_chip(list(model.specs), [model.get_params(l) for l in range(2)], bad, links=tuple(links))
    report = verify_run(run, bad)
    assert not report.passed
    assert "optical: L0_mzi_c0_r0,o4 connects to L0_mzi_c1_r1,o1 in layout, to L0_mzi_c1_r1,o2 in netlist" in report.errors
    assert report.deviation[0] > 1e-2 and report.deviation[1] < 1e-9, "only the first layer is miswired"
    assert any(e.startswith("layer 0: max |U_layout - U_trained|") for e in report.errors)
    assert report.engine == "numpy" and max(report.crosscheck) < 1e-10  # N <= 25: sax agrees on the miswired chip
    numpy_only = verify_run(run, bad, engine="numpy")
    assert numpy_only.crosscheck == [] and numpy_only.deviation == pytest.approx(report.deviation, abs=1e-10)
    assert any(e.startswith("layer 0: max |U_layout - U_trained|") for e in numpy_only.errors)


def _swap_rows(src: Path, dst: Path, a: str, b: str, keys: tuple[str, ...]) -> None:
    rows = list(csv.DictReader(open(src, newline="")))
    ra = next(r for r in rows if r["heater"] == a)
    rb = next(r for r in rows if r["heater"] == b)
    for k in keys:
        ra[k], rb[k] = rb[k], ra[k]
    with open(dst, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_heater_on_the_wrong_pad_fails_naming_heater_and_pad(trained, tmp_path):
    run, gds, model, _ = trained
    table = gds.with_name("chip_heaters.csv")
    a, b = "L0_mzi_c0_r2_theta", "L0_mzi_c2_r0_phi"

    phases = tmp_path / "phases.csv"
    _swap_rows(table, phases, a, b, ("phase_rad", "power_mW", "voltage_V"))
    report = verify_run(run, gds, heater_csv=phases)
    assert not report.passed and report.deviation[0] > 1e-3
    assert verify_run(run, gds, heater_csv=phases, engine="numpy").deviation[0] == pytest.approx(report.deviation[0])
    assert any(e.startswith(f"heater table: {a} is set to") for e in report.errors), report.errors

    pads = tmp_path / "pads.csv"
    _swap_rows(table, pads, a, b, ("pad", "pad_x_um", "pad_y_um"))
    report = verify_run(run, gds, heater_csv=pads)
    assert not report.passed
    assert any(
        e.startswith(f"electrical: table row {a} drives pad {b} at") and e.endswith(f"wired to heater {b} (L0_mzi_c2_r0, phi)")
        for e in report.errors
    ), report.errors

    labels = chip_layout(list(model.specs)).dup()
    texts = {s.text_string: s for s in labels.shapes(labels.kcl.layer(*PAD_LABEL_LAYER)).each() if s.is_text()}
    texts[a].text_string, texts[b].text_string = b, a
    relabelled = tmp_path / "labels.gds"
    labels.write_gds(relabelled)
    shutil.copy(table, tmp_path / "labels_heaters.csv")
    report = verify_run(run, relabelled)
    assert not report.passed
    assert f"electrical: {a} reaches pads ['{b}'], expected only its own pad" in report.errors
    assert any(e.startswith(f"heater table: row for {a} drives the pad at") and e.endswith(f"labelled '{b}'") for e in report.errors)


def test_electrical_short_fails(trained, tmp_path):
    run, gds, model, _ = trained
    shorted = chip_layout(list(model.specs)).dup()
    pads = pad_positions(shorted)
    (xa, ya), (xb, _) = pads["L1_mzi_c0_r0_phi"], pads["L1_mzi_c0_r0_theta"]
    shorted.add_polygon([(xa, ya - 5), (xb, ya - 5), (xb, ya + 5), (xa, ya + 5)], layer=(49, 0))
    path = tmp_path / "short.gds"
    shorted.write_gds(path)
    shutil.copy(gds.with_name("chip_heaters.csv"), tmp_path / "short_heaters.csv")
    report = verify_run(run, path)
    assert not report.passed
    assert any(e.startswith("electrical: L1_mzi_c0_r0_theta is shorted to") for e in report.errors), report.errors
    assert any("(short)" in e and "L1_mzi_c0_r0_phi, L1_mzi_c0_r0_theta" in e for e in report.errors)


def test_layout_network_is_the_chip_when_given_its_matrices(trained):
    _, _, model, _ = trained
    net = LayoutNetwork(model, [model.unitary(l) for l in range(model.n_layers)])
    x = np.random.default_rng(0).uniform(0, 1, (5, model.n_inputs))
    for layer in range(model.n_layers):
        np.testing.assert_allclose(net.query(x, layer), model.query(x, layer), atol=1e-14)
    with pytest.raises(ValueError, match="no candidate settings"):
        net.query(x, 0, {0: model.get_params(0)})


def test_verify_inputs_give_one_line_errors(trained, tmp_path):
    run, gds, _, _ = trained
    with pytest.raises(UserInputError, match="no checkpoint"):
        verify_run(tmp_path, gds)
    with pytest.raises(UserInputError, match="nope.gds"):
        verify_run(run, tmp_path / "nope.gds")
    with pytest.raises(UserInputError, match="route_phases"):
        verify_run(run, gds, route_phases="sometimes")
    with pytest.raises(UserInputError, match="engine must be one of auto, numpy, sax, got 'fast'"):
        verify_run(run, gds, engine="fast")
    with pytest.raises(UserInputError, match="heater table .*x.csv"):
        verify_run(run, gds, heater_csv=tmp_path / "x.csv")
    blank = tmp_path / "blank.csv"
    blank.write_text("heater,pad,pad_x_um,pad_y_um,phase_rad,power_mW,voltage_V\nL0_x,pad_L0_x,0,0,,,\n")
    with pytest.raises(UserInputError, match="has no phase"):
        read_heater_table(blank)
    (tmp_path / "short.csv").write_text("heater,pad\n")
    with pytest.raises(UserInputError, match="lacks columns"):
        read_heater_table(tmp_path / "short.csv")


def test_verify_command(trained, tmp_path, capsys):
    from ffzero_photonics.cli import main

    run, raw_gds, _, _ = trained
    gds = tmp_path / "tapeout.gds"
    assert main(["export-gds", "--from", str(run), "--out", str(gds)]) == 0
    assert main(["verify", str(run), "--gds", str(raw_gds)]) == 1  # uncompensated: wrong on the routed chip
    capsys.readouterr()
    out_json = tmp_path / "report.json"
    assert main(["verify", str(run), "--gds", str(gds), "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "PASS" in printed and "layer 1: max |U_layout - U_trained|" in printed and "test accuracy: trained" in printed
    assert json.loads(out_json.read_text())["passed"] is True
    assert main(["verify", str(run), "--gds", str(tmp_path / "chip.oas")]) == 2


# ---------------------------------------------------------------- sizes


@pytest.mark.slow
def test_verification_at_n8_and_n16(tmp_path):
    """N = 8 (wine) and N = 16 (digits), two layers each; FFZERO_BOUNDED=1: N = 8 only, one layer."""
    bounded = os.environ.get("FFZERO_BOUNDED") == "1"
    cases = [(8, "wine", 1)] if bounded else [(8, "wine", 2), (16, "digits", 2)]
    for n, dataset, layers in cases:
        run = tmp_path / f"run{n}"
        spec = RunSpec(
            model="photonic", model_options={"ports": n, "layers": layers}, dataset=dataset,
            train=TrainConfig(paradigm="ffzero", epochs=1, batch_size=2048),
        )
        train_run(spec, run, progress=False, log=lambda m: None)
        result, _ = export_run(run, tmp_path / f"chip{n}.gds")
        report = verify_run(run, result.gds_path)
        assert report.passed, report.text()
        assert max(report.deviation_routes) < 1e-9
        assert report.layout_accuracy_routes == report.trained_accuracy


# ---------------------------------------------------------------- a physical chip's tape-out
@pytest.fixture(scope="module")
def physical_run(exported_physical_run):
    """The exported 2-layer N=4 physical chip (conftest): (run dir, export result, trained model)."""
    run, result = exported_physical_run
    _, _, model, _ = load_run(run)
    return run, result, model


def test_physical_run_exports_its_bounded_heater_drives_and_verifies(physical_run, tmp_path):
    """The table uses the run's [heaters] (P_pi 25 mW, 1 kOhm) within the drive range; the layout, with the
    per-layer activations at their mW operating points, computes the nominal design; a wrong tap fails."""
    from ffzero_photonics.tapeout.export import layout_params

    run, result, model = physical_run
    rows = read_heater_table(result.csv_path)
    h = model.physics.heaters
    assert len(rows) == 2 * 16 and all(0 <= r.phase <= h.phase_range_rad for r in rows)
    for r in rows:
        assert r.power_mW == pytest.approx(r.phase / np.pi * h.p_pi_mW, rel=1e-12)
        assert r.voltage_V == pytest.approx(np.sqrt(r.power_mW * 1e-3 * h.resistance_ohm), rel=1e-12)
        assert r.voltage_V <= h.v_max_V + 1e-12
    with pytest.raises(UserInputError, match=r"p_pi_mW = 20.0 differs from the physical run's \[heaters\]"):
        export_run(run, tmp_path / "other.gds", p_pi_mW=20.0)
    report = verify_run(run, result.gds_path)
    assert report.passed, report.text()
    assert max(report.deviation_routes) < 1e-9 and report.layout_accuracy_routes == report.trained_accuracy
    specs = list(model.specs)
    params = layout_params(specs, [model.get_params(l) for l in range(2)], tap_fraction=0.3)
    wrong = tmp_path / "tap30.gds"
    export_chip(specs, params, wrong, tap_fraction=0.3, p_pi_mW=h.p_pi_mW)
    bad = verify_run(run, wrong)
    assert any(e.startswith("activation: drawn cell L0_tap_p0 (tap_fraction 0.3)") for e in bad.errors), bad.errors
