"""Sign-off of an exported chip over wavelength and process corners (tapeout.signoff, ``ffzero signoff``)."""

from __future__ import annotations

import inspect
import json

import gdsfactory as gf
import numpy as np
import pytest

from ffzero_photonics.components import cells
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import extract_layout, layout_route_lengths
from ffzero_photonics.layouts.layers import ensure_pdk
from ffzero_photonics.layouts.readback import read_gds
from ffzero_photonics.photonic.compiled import CompiledMesh, compensate_route_phases, route_phases_from_lengths
from ffzero_photonics.photonic.mesh_spec import clements
from ffzero_photonics.runs import RunSpec, load_run, train_run
from ffzero_photonics.tapeout import export_chip, export_run, verify_run
from ffzero_photonics.tapeout.drive import heater_drive
from ffzero_photonics.tapeout.heater_table import read_heater_table
from ffzero_photonics.tapeout.paths import cell_paths, layer_paths
from ffzero_photonics.tapeout.signoff import (
    DEFAULT_CORNERS,
    Corner,
    drive_params,
    fidelity,
    layer_unitary,
    parse_wavelengths,
    signoff_run,
)
from ffzero_photonics.tapeout.simulate import simulate_layer
from ffzero_photonics.trainer import TrainConfig

DETUNED = 1.55 + 1e-3 * np.array([0.0, 0.05, 0.1, 1.0])


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    """A 1-layer N=4 Clements run on iris: (run, its export_run GDS (routes AND cell paths compensated), a GDS whose
    table compensates the routes only)."""
    root = tmp_path_factory.mktemp("signoff")
    run = root / "run"
    spec = RunSpec(model="photonic", model_options={"ports": 4, "layers": 1}, dataset="iris",
                   train=TrainConfig(paradigm="ffzero", epochs=3, batch_size=16, lr=5e-2, optimizer="adam"))
    train_run(spec, run, progress=False, log=lambda m: None)
    _, _, model, _ = load_run(run)
    (root / "routes").mkdir()
    (root / "drawn").mkdir()
    drawn, compensated = export_run(run, root / "drawn" / "chip.gds")
    spec = model.specs[0]
    lengths = layout_route_lengths(extract_layout(drawn.gds_path, n_layers=1), [spec])[0]
    params = compensate_route_phases(spec, model.get_params(0), route_phases_from_lengths(lengths, spec)[0])
    routes = export_chip(spec, params, root / "routes" / "chip.gds")
    assert compensated
    return run, routes.gds_path, drawn.gds_path


def test_the_exported_chip_verifies_and_signs_off_with_its_cell_paths(chips):
    run, _, gds = chips
    verified = verify_run(run, gds)
    report = signoff_run(run, gds, [1.55])
    assert verified.passed, verified.text()
    assert max(verified.deviation_routes) < 1e-9 and max(report.infidelity["nominal"][0]) < 1e-12
    assert report.accuracy["nominal"][0] == verified.layout_accuracy_routes == report.trained_accuracy


def test_route_only_table_is_wrong_once_the_cells_own_waveguides_are_simulated(chips):
    run, gds, _ = chips
    report = signoff_run(run, gds, [1.55])
    assert max(report.infidelity["nominal"][0]) > 1e-2  # the hundreds of µm through each MZI are not compensated
    assert report.cell_paths_um["arm_up"] > 100 and sum(report.cell_paths_um.values()) > 300
    assert max(signoff_run(run, gds, [1.55], include_cells=False).infidelity["nominal"][0]) < 1e-12
    verified = verify_run(run, gds)
    assert not verified.passed and max(verified.deviation_routes) > 1e-2
    assert any("compensated for route and cell-path phases" in e for e in verified.errors), verified.errors


def test_drawn_compensation_is_exact_at_design_and_degrades_with_detuning_and_corners(chips):
    run, _, gds = chips
    corners = [Corner("nominal"), Corner("neff+1e-4", 1e-4), Corner("width+10nm", 1e-2)]
    report = signoff_run(run, gds, DETUNED, corners)
    nominal = report.worst_infidelity("nominal")
    assert report.errors == []
    assert nominal[0] < 1e-12 and report.accuracy["nominal"][0] == report.trained_accuracy
    assert 1e-5 < nominal[1] < nominal[2] < nominal[3]
    assert 1e-6 < report.worst_infidelity("neff+1e-4")[0] < report.worst_infidelity("width+10nm")[0]
    assert "nominal" in report.text() and f"{DETUNED[1]:.6f}" in report.text()


def test_compiled_path_equals_the_sax_netlist_with_cell_paths(chips):
    run, gds, _ = chips
    extraction = extract_layout(gds, n_layers=1)
    drive, errors = heater_drive(extraction, read_heater_table(gds.with_name("chip_heaters.csv")))
    specs = list(load_run(run)[2].specs)
    paths = cell_paths(extraction)
    layer = layer_paths(extraction, specs, 0, paths)
    params = drive_params(extraction, specs[0], 0, drive)
    assert errors == []
    for wl, dneff in ((1.5512, 0.0), (1.5493, 1e-3)):
        u_netlist = simulate_layer(extraction, 0, drive, routes=True, wl=wl, neff=2.34 + dneff, cell_paths=paths)
        u_compiled = layer_unitary(specs[0], params, layer, wl, Corner("c", dneff))
        np.testing.assert_allclose(u_compiled, u_netlist, atol=1e-9)


def _with_unbalanced_mzi(src, dst, inst_name: str, delta_um: float) -> None:
    """Copy a GDS with one MZI cell redrawn with its lower arm ``delta_um`` longer (same ports, same heaters)."""
    ensure_pdk()
    component = read_gds(src)
    inst = next(i for i in component.insts if i.name == inst_name)
    settings = {k: v for k, v in inst.cell.settings.model_dump().items() if k in inspect.signature(cells.ffzero_heater_mzi).parameters}
    settings["theta_length"] = float(settings.get("theta_length", cells.HEATED_LENGTH_UM)) + 1e-4  # a new cell
    original = gf.components.mzi2x2_2x2_phase_shifter
    gf.components.mzi2x2_2x2_phase_shifter = lambda **kw: original(**{**kw, "delta_length": delta_um})
    try:
        unbalanced = cells.ffzero_heater_mzi(**settings)
    finally:
        gf.components.mzi2x2_2x2_phase_shifter = original
    ports = {p.name: (p.x, p.y) for p in inst.ports}
    inst.cell_index = unbalanced.cell_index()
    assert {p.name: (p.x, p.y) for p in inst.ports} == ports
    component.write_gds(dst)


def test_a_drawn_arm_length_change_shows_up(chips, tmp_path):
    run, _, gds = chips
    changed = tmp_path / "chip.gds"
    _with_unbalanced_mzi(gds, changed, "mzi_c1_r1", 0.2)
    (tmp_path / "chip_heaters.csv").write_bytes(gds.with_name("chip_heaters.csv").read_bytes())
    before, after = extract_layout(gds, n_layers=1), extract_layout(changed, n_layers=1)
    paths = cell_paths(after)
    assert paths["mzi_c1_r1"]["arm_lo"] - paths["mzi_c1_r1"]["arm_up"] == pytest.approx(0.2, abs=1e-3)
    assert paths["mzi_c0_r0"]["arm_lo"] == paths["mzi_c0_r0"]["arm_up"]
    drive, _ = heater_drive(after, read_heater_table(tmp_path / "chip_heaters.csv"))
    np.testing.assert_allclose(simulate_layer(after, 0, drive, routes=True),  # a route-only circuit cannot see it
                               simulate_layer(before, 0, drive, routes=True), atol=1e-12)
    assert signoff_run(run, changed, [1.55]).infidelity["nominal"][0][0] > 1e-2
    for engine in ("auto", "numpy", "sax"):
        report = verify_run(run, changed, engine=engine)
        assert not report.passed and report.deviation_routes[0] > 1e-2, engine
        assert any(e.startswith("layer 0: max |U_layout - U_trained|") for e in report.errors), report.errors


def test_fidelity_ignores_global_phase_and_common_loss():
    u = CompiledMesh(clements(4)).unitary(np.random.default_rng(1).uniform(0, 6, clements(4).n_params))
    assert fidelity(0.5 * np.exp(0.7j) * u, u) == pytest.approx(1.0, abs=1e-12)
    assert fidelity(u[:, ::-1], u) < 0.99


@pytest.mark.parametrize("bad", ["1.56:1.55:5", "1.545:1.555:0", "-1.55", "1.5:1.6", "x", "0.5:3:3", "1.545:1.555:99999"])
def test_bad_wavelength_ranges_give_one_line_errors(bad):
    with pytest.raises(UserInputError, match="--wavelengths") as err:
        parse_wavelengths(bad)
    assert "\n" not in str(err.value)


def test_wavelength_ranges_and_corners():
    np.testing.assert_allclose(parse_wavelengths("1.545:1.555:21")[[0, 10, 20]], [1.545, 1.55, 1.555])
    assert list(parse_wavelengths("1.55,1.551")) == [1.55, 1.551]
    assert [c.name for c in DEFAULT_CORNERS][0] == "nominal" and any(c.sigma > 0 for c in DEFAULT_CORNERS)
    with pytest.raises(UserInputError, match="sigma"):
        Corner("bad", sigma=-1.0)


def test_signoff_command_writes_its_files(chips, capsys):
    from ffzero_photonics.cli import main

    run, _, gds = chips
    assert main(["signoff", str(run), "--gds", str(gds), "--wavelengths", "1.549:1.551:3", "--corners"]) == 0
    printed = capsys.readouterr().out
    assert "width+10nm" in printed and "1.550000" in printed
    saved = json.loads((run / "signoff.json").read_text())
    assert saved["wavelengths"] == [1.549, 1.55, 1.551] and set(saved["accuracy"]) == {c.name for c in DEFAULT_CORNERS}
    assert (run / "signoff.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["signoff", str(run), "--gds", str(gds), "--wavelengths", "1.56:1.55:5"]) == 2
    assert "--wavelengths" in capsys.readouterr().err


def test_verify_signs_off_over_wavelengths_and_corners(chips, tmp_path, capsys):
    """``ffzero verify --wavelengths --corners``: the nominal check, then 1 - F and accuracy per wavelength and corner."""
    from ffzero_photonics.cli import main

    run, _, gds = chips
    for name in ("signoff.json", "signoff.png"):
        (run / name).unlink(missing_ok=True)
    out_json = tmp_path / "verify.json"
    assert main(["verify", str(run), "--gds", str(gds), "--wavelengths", "1.545:1.555:3", "--corners",
                 "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "PASS" in printed and "width-10nm" in printed and "1.545000" in printed and "sax netlist cross-check" in printed
    saved = json.loads((run / "signoff.json").read_text())
    assert saved["wavelengths"] == [1.545, 1.55, 1.555] and len(saved["infidelity"]["random sigma 1e-4"]) == 3
    assert saved["infidelity"]["nominal"][1][0] < 1e-12 < saved["infidelity"]["nominal"][0][0]
    report = json.loads(out_json.read_text())
    assert report["passed"] and report["signoff"]["accuracy"] == saved["accuracy"]
    assert (run / "signoff.png").read_bytes()[:4] == b"\x89PNG"


def test_verify_signoff_bad_input_is_one_line_and_writes_nothing(chips, tmp_path, capsys):
    from ffzero_photonics.cli import main

    run, _, gds = chips
    other = export_chip(clements(3), np.zeros(clements(3).n_params), tmp_path / "other.gds").gds_path
    lonely = tmp_path / "lonely" / "chip.gds"
    lonely.parent.mkdir()
    lonely.write_bytes(gds.read_bytes())
    for name in ("signoff.json", "signoff.png"):
        (run / name).unlink(missing_ok=True)
    out_json = tmp_path / "verify.json"
    cases = [(gds, "1.56:1.55:5", "--wavelengths"), (gds, "1.545:1.555", "--wavelengths"),
             (gds, "2.2:2.3:3", "--wavelengths"), (other, "1.55", "is not the run's 1-layer N=4 chip"),
             (lonely, "1.55", "heater table")]
    for chip, wavelengths, message in cases:
        code = main(["verify", str(run), "--gds", str(chip), "--wavelengths", wavelengths, "--json", str(out_json)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (wavelengths, err)
    assert not out_json.exists() and not (run / "signoff.json").exists() and not (run / "signoff.png").exists()
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
