"""GDS layout of meshes and chips: cells, counts read back from GDS, labels, LVS, electrical check, export."""

from __future__ import annotations

import csv
from pathlib import Path

import gdsfactory as gf
import klayout.db as kdb
import numpy as np
import pytest

from ffzero_photonics.components import cells
from ffzero_photonics.components.activation_cell import ffzero_eo_activation
from ffzero_photonics.components.input_cells import ffzero_coherent_input
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import heater_positions, layout_netlist, pad_positions, waveguide_lengths
from ffzero_photonics.layouts.islands import Islands
from ffzero_photonics.layouts.floorplan import PORT_PITCH, heater_positions_for, optical_links
from ffzero_photonics.layouts.layers import HEATER_LABEL_LAYER, METAL_LAYER, PAD_LABEL_LAYER
from ffzero_photonics.layouts.lvs import canonical_graph, check_electrical, compare_connectivity, unconnected_metal
from ffzero_photonics.layouts.mesh_layout import chip_layout, mesh_layout
from ffzero_photonics.photonic.mesh_spec import build_mesh
from ffzero_photonics.tapeout import export as export_mod
from ffzero_photonics.tapeout.export import export_chip
from ffzero_photonics.tapeout.heater_table import HEATER_TABLE_COLUMNS

TOPOLOGIES = ("clements", "reck")
PITCH_Y = PORT_PITCH


@pytest.fixture(scope="module", autouse=True)
def pdk():
    gf.gpdk.PDK.activate()


def _n_heaters(spec) -> int:
    return 2 * spec.n_mzis + spec.n_ports


def _read_gds(path: Path):
    layout = kdb.Layout()
    layout.read(str(path))
    (top,) = layout.top_cells()
    return layout, top


def _texts(layout, top, layer) -> list[str]:
    it = top.begin_shapes_rec(layout.layer(*layer))
    it.shape_flags = kdb.Shapes.STexts
    return [s.shape().text_string for s in it.each()]


def _child_counts(layout, top) -> dict[str, int]:
    counts: dict[str, int] = {}
    for inst in top.each_inst():
        name = layout.cell(inst.cell_index).name
        counts[name] = counts.get(name, 0) + 1
    return counts


def _count(counts: dict[str, int], prefix: str) -> int:
    return sum(v for k, v in counts.items() if k.startswith(prefix))


# ---------------------------------------------------------------- cells


def test_heater_mzi_ports_follow_the_netlist_convention():
    c = cells.ffzero_heater_mzi(port_spacing=110.0)
    p = c.ports
    assert {"o1", "o2", "o3", "o4", "theta", "phi", "gnd_n"} <= {q.name for q in p}
    assert p["o1"].x == p["o2"].x < p["o3"].x == p["o4"].x
    assert p["o2"].y - p["o1"].y == pytest.approx(110.0)
    assert p["o3"].y == p["o2"].y and p["o4"].y == p["o1"].y
    assert p["phi"].port_type == p["theta"].port_type == "electrical"
    theta_y = c.info["theta_center"][1]
    phi_y = c.info["phi_center"][1]
    assert phi_y == pytest.approx(p["o2"].y), "phi heater sits on the upper input arm"
    assert p["o1"].y < theta_y < p["o2"].y and theta_y > (p["o1"].y + p["o2"].y) / 2, "theta on the upper internal arm"
    pads = c.info["pads"]
    assert set(pads) == {"phi", "theta", "gnd"}
    assert all(y == pytest.approx(p["o2"].y + 55.0) for _, y in pads.values()), "bumps in the strip above the upper port"
    assert p["o2"].x < min(x for x, _ in pads.values()) - 15.0 + 1e-6 and max(x for x, _ in pads.values()) + 15.0 < p["o3"].x


def test_heater_cells_draw_the_heated_length_and_stay_compact():
    """Heaters are as long as the physical chip's heated length; the cell is what the heaters, MMIs and fans need."""
    mzi = cells.ffzero_heater_mzi()
    assert mzi.settings["theta_length"] == mzi.settings["phi_length"] == cells.HEATED_LENGTH_UM == 61.6
    assert mzi.ports["o3"].x - mzi.ports["o2"].x < 320.0
    assert cells.fan_length(70.0) == 35.0 and cells.fan_length(127.0) > cells.fan_length(70.0)
    assert cells._sbend_min_radius(cells.fan_length(70.0), 34.375) >= cells.FAN_RADIUS_UM
    assert cells._sbend_min_radius(cells.fan_length(70.0) - 5.0, 34.375) < cells.FAN_RADIUS_UM, "the shortest such fan"
    assert cells.min_port_spacing() == 61.0


@pytest.mark.parametrize(
    "factory, kwargs, ports",
    [
        (cells.ffzero_heater_mzi, {"port_spacing": 97.0}, {"o1", "o2", "o3", "o4", "theta", "phi", "gnd_n"}),
        (cells.ffzero_phase_screen_heater, {"length": 91.0}, {"o1", "o2", "phi", "gnd_n"}),
        (cells.ffzero_photodetector, {"pad_size": 31.0}, {"o1", "pd_a", "pd_k"}),
        (ffzero_eo_activation, {"modulator_length": 400.0}, {"o1", "o2", "pd_a", "pd_k", "tia_out", "bias"}),
        (ffzero_coherent_input, {"n_ports": 2}, {"fiber", "o1", "o2"}),
        (cells.ffzero_io_coupler, {"kind": "edge"}, {"o1", "fiber"}),
        (cells.ffzero_io_coupler, {"kind": "grating"}, {"o1", "fiber"}),
        (cells.ffzero_pad, {"size": (61.0, 61.0)}, {"e1", "e2", "e3", "e4", "pad"}),
    ],
)
def test_cells_carry_the_project_prefix_and_their_ports(factory, kwargs, ports):
    c = factory(**kwargs)
    assert c.function_name == factory.__name__ and c.function_name.startswith("ffzero_")
    assert ports <= {p.name for p in c.ports}


def test_cell_parameters_are_validated():
    with pytest.raises(UserInputError, match="kind"):
        cells.ffzero_io_coupler(kind="prism")
    with pytest.raises(UserInputError, match="port_spacing=20"):
        cells.ffzero_heater_mzi(port_spacing=20.0)


# ---------------------------------------------------------------- mesh layouts


@pytest.fixture(scope="module")
def mesh4():
    return {t: mesh_layout(build_mesh(t, 4)) for t in TOPOLOGIES}


@pytest.fixture(scope="module")
def mesh8():
    return {t: mesh_layout(build_mesh(t, 8), wiring="polygons") for t in TOPOLOGIES}


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_gds_reads_back_with_expected_content(topology, mesh4, tmp_path):
    spec = build_mesh(topology, 4)
    path = mesh4[topology].write_gds(gdspath=tmp_path / "mesh.gds")
    layout, top = _read_gds(path)
    counts = _child_counts(layout, top)
    n_mzi, n_heaters = spec.n_mzis, _n_heaters(spec)
    assert n_mzi == 6
    assert _count(counts, "ffzero_heater_mzi") == n_mzi
    assert _count(counts, "ffzero_phase_screen_heater") == spec.n_ports
    assert _count(counts, "ffzero_io_coupler") == 2 * spec.n_ports

    heater_labels = _texts(layout, top, HEATER_LABEL_LAYER)
    assert sorted(heater_labels) == sorted(spec.heater_names)
    assert len(heater_labels) == n_heaters == 16

    pad_labels = _texts(layout, top, PAD_LABEL_LAYER)
    heater_pads = [t for t in pad_labels if not t.endswith("_gnd")]
    assert sorted(heater_pads) == sorted(spec.heater_names)
    ground_pads = [t for t in pad_labels if t.endswith("_gnd")]
    assert len(ground_pads) == spec.n_mzis + spec.n_ports, "one ground bump per MZI (its two heaters) and screen heater"
    assert _count(counts, "ffzero_pad") == n_heaters + len(ground_pads)

    heater_layer = layout.layer(47, 0)
    heater_polys = kdb.Region(top.begin_shapes_rec(heater_layer)).merged()
    assert heater_polys.count() == n_heaters, "one merged heater strip per heater"
    metal = kdb.Region(top.begin_shapes_rec(layout.layer(49, 0))).merged()
    assert metal.count() == len(pad_labels), "one metal island per pad net"


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [4, 8])
def test_lvs_matches_simulation_netlist(topology, n, mesh4, mesh8):
    layout = (mesh4 if n == 4 else mesh8)[topology]
    assert compare_connectivity(layout, build_mesh(topology, n)) == []


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [4, 8])
def test_every_heater_wired_to_its_own_pad(topology, n, mesh4, mesh8):
    layout = (mesh4 if n == 4 else mesh8)[topology]
    assert check_electrical(layout) == []


def test_layout_netlist_collapses_routes(mesh4):
    net = layout_netlist(mesh4["clements"])
    spec = build_mesh("clements", 4)
    assert set(net["instances"]) == {m.name for m in spec.mzis} | {f"screen_p{k}" for k in range(4)}
    assert net["ports"]["in0"] == "mzi_c0_r0,o2" and net["ports"]["in1"] == "mzi_c0_r0,o1"
    assert net["connections"]["mzi_c0_r0,o3"] == "mzi_c2_r0,o2", "port 0 skips column 1 straight through"
    assert net["warnings"] == []


def test_lvs_fails_on_swapped_waveguides():
    spec = build_mesh("clements", 4)
    links = optical_links(spec)
    i = links.index(("mzi_c0_r0,o4", "mzi_c1_r1,o2"))
    j = links.index(("mzi_c0_r2,o3", "mzi_c1_r1,o1"))
    links[i] = ("mzi_c0_r0,o4", "mzi_c1_r1,o1")
    links[j] = ("mzi_c0_r2,o3", "mzi_c1_r1,o2")
    bad = mesh_layout(spec, links=tuple(links), wiring="none")
    errors = compare_connectivity(bad, spec)
    assert "mzi_c0_r0,o4 connects to mzi_c1_r1,o1 in layout, to mzi_c1_r1,o2 in netlist" in errors
    assert "mzi_c0_r2,o3 connects to mzi_c1_r1,o2 in layout, to mzi_c1_r1,o1 in netlist" in errors
    assert not any("mzi_c2" in e or "screen" in e for e in errors), errors


def test_lvs_fails_against_another_topology(mesh4):
    errors = compare_connectivity(mesh4["clements"], build_mesh("reck", 4))
    assert any("is in the netlist but not in the layout" in e for e in errors)
    assert any("is in the layout but not in the netlist" in e for e in errors)


def test_electrical_check_finds_opens_and_shorts(mesh4):
    spec = build_mesh("clements", 4)
    unwired = mesh_layout(spec, wiring="none")
    errors = check_electrical(unwired)
    opens = {e.split()[0] for e in errors if e.endswith("reaches pads [], expected only its own pad")}
    assert opens == set(spec.heater_names)
    assert any(e.startswith("ground of mzi_c0_r0") for e in errors)

    shorted = mesh4["clements"].dup()
    pads = pad_positions(shorted)
    (xa, ya), (xb, yb) = pads["mzi_c0_r0_phi"], pads["mzi_c0_r0_theta"]
    assert ya == yb
    shorted.add_polygon([(xa, ya - 5), (xb, ya - 5), (xb, ya + 5), (xa, ya + 5)], layer=(49, 0))  # over the ground pad too
    errors = check_electrical(shorted)
    assert any(e.startswith("mzi_c0_r0_phi is shorted to") and "mzi_c0_r0_theta" in e for e in errors), errors


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_heater_positions_one_per_heater_all_distinct(topology, mesh4, tmp_path):
    spec = build_mesh(topology, 4)
    layout = mesh4[topology]
    pos = heater_positions(layout)
    assert set(pos) == set(spec.heater_names)
    assert len(set(pos.values())) == len(pos)
    for site in spec.mzis:
        assert pos[f"{site.name}_phi"][1] == pytest.approx(-site.row * PITCH_Y), "phi on the upper input row"
        assert -(site.row + 1) * PITCH_Y < pos[f"{site.name}_theta"][1] < -site.row * PITCH_Y
    assert pos["mzi_c1_r1_phi"][0] > pos["mzi_c0_r0_theta"][0] or topology == "reck"
    back = heater_positions(gf.import_gds(layout.write_gds(gdspath=tmp_path / "m.gds")))
    assert back.keys() == pos.keys()
    assert all(np.allclose(back[k], pos[k], atol=1e-3) for k in pos)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_heater_positions_for_equals_the_drawn_labels(topology, mesh4):
    """The crosstalk model's positions come from the floorplan without drawing; they are the labels of the drawn layout."""
    spec = build_mesh(topology, 4)
    assert heater_positions_for(spec) == heater_positions(mesh4[topology])
    wide = heater_positions_for(spec, mzi_pitch_x=mesh4[topology].info["mzi_pitch_x"] + 50.0)
    assert wide["mzi_c1_r1_phi"][0] > heater_positions_for(spec)["mzi_c1_r1_phi"][0]


def test_heater_positions_for_a_chip_use_the_simulator_names(chip):
    specs = [build_mesh("clements", 4), build_mesh("reck", 4)]
    pos = heater_positions_for(specs)
    assert pos == heater_positions(chip)
    assert set(pos) == {f"L{l}_{h}" for l, s in enumerate(specs) for h in s.heater_names} | _chip_device_labels(4, 2)
    pos["L0_mzi_c0_r0_phi"] = (0.0, 0.0)
    assert heater_positions_for(specs)["L0_mzi_c0_r0_phi"] != (0.0, 0.0), "callers get a copy of the cached map"


def test_heater_positions_for_n16_is_all_heaters_distinct():
    spec = build_mesh("clements", 16)
    pos = heater_positions_for(spec)
    assert set(pos) == set(spec.heater_names) and len(pos) == 2 * 120 + 16
    assert len(set(pos.values())) == len(pos)
    with pytest.raises(UserInputError, match="wiring"):
        heater_positions_for(spec, wiring="none")


def test_layout_netlist_reports_io_route_lengths(mesh4):
    net = layout_netlist(mesh4["clements"])
    assert set(net["port_lengths"]) == set(net["ports"]) == {f"{s}{k}" for s in ("in", "out") for k in range(4)}
    assert all(length > 0 for length in net["port_lengths"].values())


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_waveguide_lengths_name_the_netlist_waveguides(topology, mesh4):
    from ffzero_photonics.photonic.netlist import mesh_netlist, mesh_settings

    spec = build_mesh(topology, 4)
    lengths = waveguide_lengths(mesh4[topology], spec)
    wg = mesh_netlist(spec, with_waveguides=True)
    assert set(lengths) == {k for k, v in wg["instances"].items() if v["component"] == "waveguide"}
    mzi = cells.ffzero_heater_mzi(port_spacing=PITCH_Y)
    gap = mesh4[topology].info["mzi_pitch_x"] - (mzi.ports["o3"].x - mzi.ports["o2"].x)
    assert lengths["wg_p1_c1"] == pytest.approx(gap, abs=1e-3), "neighbouring columns: one straight across the gap"
    assert lengths["wg_p0_c2"] == pytest.approx(gap + mesh4[topology].info["mzi_pitch_x"], abs=1e-3), "skips column 1"
    settings = mesh_settings(
        spec, np.zeros(spec.n_params), with_waveguides=True, waveguides={k: {"length": v} for k, v in lengths.items()}
    )
    assert settings["wg_p0_c2"]["length"] == lengths["wg_p0_c2"]
    assert canonical_graph(wg) == canonical_graph(mesh_netlist(spec)), "waveguides collapse in the canonical graph"


def test_edge_couplers_layout_passes_lvs():
    spec = build_mesh("reck", 4)
    c = mesh_layout(spec, coupler="edge", wiring="none")
    assert compare_connectivity(c, spec) == []


def test_mzi_pitch_too_small_is_rejected():
    with pytest.raises(UserInputError, match="mzi_pitch_x=300"):
        mesh_layout(build_mesh("clements", 4), mzi_pitch_x=300.0)
    with pytest.raises(UserInputError, match="wiring"):
        mesh_layout(build_mesh("clements", 4), wiring="magic")
    with pytest.raises(UserInputError, match="port_spacing=50"):
        mesh_layout(build_mesh("clements", 4), port_pitch_y=50.0)
    with pytest.raises(UserInputError, match="pad_size=20"):
        mesh_layout(build_mesh("clements", 4), pad_size=20.0)


# ---------------------------------------------------------------- chip


@pytest.fixture(scope="module")
def chip():
    return chip_layout([build_mesh("clements", 4), build_mesh("reck", 4)])


def _chip_device_labels(n: int, n_layers: int) -> set[str]:
    """Device labels drawn inside a chip's input, activation and detector cells."""
    taps = {f"L{l}_tap_p{k}{s}" for l in range(n_layers - 1) for k in range(n) for s in ("", "_pd")}
    return taps | {f"in{k}_{r}" for k in range(n) for r in ("amp", "sign")} | {f"out{k}" for k in range(n)}


def _chip_cell_pads(n: int, n_layers: int) -> set[str]:
    taps = {f"L{l}_tap_p{k}_{p}" for l in range(n_layers - 1) for k in range(n) for p in ("pd_k", "pd_a", "tia_out", "bias")}
    inputs = {f"in{k}_{r}{g}" for k in range(n) for r in ("amp", "sign") for g in ("", "_gnd")}
    return taps | inputs | {f"out{k}_{p}" for k in range(n) for p in ("pd_k", "pd_a")}


def test_chip_labels_cells_and_lvs(chip, tmp_path):
    """The chip is the simulated one: coherent input, meshes, an EO activation per port between layers, detectors."""
    specs = [build_mesh("clements", 4), build_mesh("reck", 4)]
    expected = [f"L{l}_{h}" for l, s in enumerate(specs) for h in s.heater_names]
    layout, top = _read_gds(chip.write_gds(gdspath=tmp_path / "chip.gds"))
    assert sorted(_texts(layout, top, HEATER_LABEL_LAYER)) == sorted(expected + sorted(_chip_device_labels(4, 2)))
    pads = [t for t in _texts(layout, top, PAD_LABEL_LAYER) if not t.endswith("_gnd") or t.startswith("in")]
    assert sorted(pads) == sorted(expected + sorted(_chip_cell_pads(4, 2)))
    counts = _child_counts(layout, top)
    assert _count(counts, "ffzero_eo_activation") == 4
    assert _count(counts, "ffzero_coherent_input") == 1
    assert _count(counts, "ffzero_photodetector") == 4
    assert _count(counts, "ffzero_io_coupler") == 0
    assert _count(counts, "ffzero_heater_mzi") == sum(s.n_mzis for s in specs)
    assert compare_connectivity(chip, specs) == []
    assert check_electrical(chip) == []
    assert set(heater_positions(chip)) == set(expected) | _chip_device_labels(4, 2)


def test_chip_input_and_activations_sit_on_the_mesh_port_pitch(chip):
    """One fibre input whose N outputs are at the mesh's port pitch; activations alternate between two sub-columns."""
    src = chip.insts["input"]
    assert src.cell.info["pitch"] == PITCH_Y
    for k in range(4):
        assert src.ports[f"o{k + 1}"].y == pytest.approx(-k * PITCH_Y, abs=1e-3)
        assert src.ports[f"o{k + 1}"].y == pytest.approx(chip.insts[f"L0_mzi_c0_r{k - k % 2}"].ports["o2" if k % 2 == 0 else "o1"].y, abs=1e-3)
        act = chip.insts[f"L0_tap_p{k}"]
        assert act.ports["o1"].y == pytest.approx(-k * PITCH_Y, abs=1e-3)
        assert act.ports["o2"].y == pytest.approx(act.ports["o1"].y, abs=1e-6)
        assert act.cell.settings["label"] == f"L0_tap_p{k}"
    boxes = [chip.insts[f"L0_tap_p{k}"].dbbox() for k in range(4)]
    for k in range(3):
        assert (boxes[k] & boxes[k + 1]).empty(), "neighbouring activations overlap"
    assert [p.name for p in chip.insts["input"].cell.ports if p.port_type == "vertical_te"] == ["fiber"]


def test_two_layer_n8_chip_has_no_floating_metal():
    """Every metal island joins exactly one pad to a device contact; a stray wire or an unwired pad is found."""
    specs = [build_mesh("clements", 8)] * 2
    c = chip_layout(specs)
    assert unconnected_metal(c) == []
    assert check_electrical(c) == []
    broken = c.dup()
    broken.add_polygon([(0, 2000), (50, 2000), (50, 2010), (0, 2010)], layer=METAL_LAYER)
    broken.add_ref(cells.ffzero_pad(size=(40.0, 40.0))).move((0, 2500))
    errors = unconnected_metal(broken)
    assert len(errors) == 2
    assert any("(25.0, 2005.0)" in e and "no pad" in e for e in errors)
    assert any("(0.0, 2500.0)" in e and "no device contact" in e for e in errors)


def test_chip_rejects_mixed_port_counts_and_a_pitch_its_cells_do_not_fit():
    with pytest.raises(UserInputError, match="same number of ports"):
        chip_layout([build_mesh("clements", 4), build_mesh("clements", 6)])
    with pytest.raises(UserInputError, match="port_pitch_y=65 µm is below the 69.3 µm a chip needs: its activation"):
        chip_layout([build_mesh("clements", 4)] * 2, port_pitch_y=65.0)


# ---------------------------------------------------------------- export


def test_export_writes_gds_csv_png_with_wrapped_phases(tmp_path):
    specs = [build_mesh("clements", 4), build_mesh("reck", 4)]
    rng = np.random.default_rng(0)
    params = [rng.uniform(-10, 10, s.n_params) for s in specs]
    params[0][0] = -1e-18
    out = tmp_path / "chip.gds"
    res = export_chip(specs, params, out, p_pi_mW=25.0, resistance_ohm=800.0)
    assert res.gds_path == out and out.exists()
    assert res.csv_path == tmp_path / "chip_heaters.csv" and res.png_path == tmp_path / "chip.png"
    assert res.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chip.gds", "chip.png", "chip_heaters.csv"]

    rows = list(csv.DictReader(open(res.csv_path)))
    names = [f"L{l}_{h}" for l, s in enumerate(specs) for h in s.heater_names]
    assert [r["heater"] for r in rows] == names
    assert tuple(rows[0]) == HEATER_TABLE_COLUMNS
    phases = np.array([float(r["phase_rad"]) for r in rows])
    wrapped = np.mod(np.concatenate(params), 2 * np.pi)
    wrapped[wrapped >= 2 * np.pi] = 0.0
    assert np.all((phases >= 0) & (phases < 2 * np.pi))
    np.testing.assert_allclose(phases, wrapped, atol=1e-12)
    power = np.array([float(r["power_mW"]) for r in rows])
    np.testing.assert_allclose(power, phases / np.pi * 25.0)
    np.testing.assert_allclose([float(r["voltage_V"]) for r in rows], np.sqrt(power * 1e-3 * 800.0))

    layout, top = _read_gds(out)
    static = set(_texts(layout, top, HEATER_LABEL_LAYER)) - _chip_device_labels(4, 2)  # input heaters follow the data
    assert len(static) == len(rows) == res.n_heaters
    pads = pad_positions(gf.import_gds(out))
    for r in rows:
        assert r["pad"] == f"pad_{r['heater']}"
        assert (float(r["pad_x_um"]), float(r["pad_y_um"])) == pytest.approx(pads[r["heater"]], abs=1e-3)


def test_export_without_params_leaves_drive_blank(tmp_path):
    spec = build_mesh("clements", 4)
    res = export_chip(spec, None, tmp_path / "mesh.gds")
    rows = list(csv.DictReader(open(res.csv_path)))
    assert [r["heater"] for r in rows] == list(spec.heater_names)
    assert all(r["phase_rad"] == r["power_mW"] == r["voltage_V"] == "" for r in rows)


def test_export_validates_params(tmp_path):
    specs = [build_mesh("clements", 4), build_mesh("reck", 4)]
    good = [np.zeros(s.n_params) for s in specs]
    with pytest.raises(UserInputError, match=r"layer 1 has shape \(15,\), expected \(16,\)"):
        export_chip(specs, [good[0], np.zeros(15)], tmp_path / "x.gds")
    with pytest.raises(UserInputError, match="1 layer vectors but the chip has 2 layers"):
        export_chip(specs, [good[0]], tmp_path / "x.gds")
    with pytest.raises(UserInputError, match="non-finite"):
        export_chip(specs, [good[0], np.full(16, np.nan)], tmp_path / "x.gds")
    with pytest.raises(UserInputError, match=r"\.gds"):
        export_chip(specs, good, tmp_path / "x.oas")
    assert list(tmp_path.iterdir()) == []


def test_export_is_atomic(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(export_mod, "render_png", boom)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        export_chip(build_mesh("clements", 4), None, tmp_path / "chip.gds")
    assert list(tmp_path.iterdir()) == [], "no half-written or temporary files"


# ---------------------------------------------------------------- scale: metal look-ups, preview, progress


def test_unconnected_metal_counts_the_pads_a_wire_shorts(mesh4):
    """A strap between two pads is one island joining two pads; the clean mesh has none."""
    clean = mesh4["clements"]
    assert unconnected_metal(clean) == []
    shorted = clean.dup()
    pads = pad_positions(shorted)
    xa, ya = pads["mzi_c0_r0_phi"]
    xb = min((x for x, y in pads.values() if y == ya and x != xa), key=lambda x: abs(x - xa))  # its row neighbour
    shorted.add_polygon([(xa, ya - 5), (xb, ya - 5), (xb, ya + 5), (xa, ya + 5)], layer=METAL_LAYER)
    errors = unconnected_metal(shorted)
    assert len(errors) == 1 and errors[0].endswith("joins 2 pads (a short)"), errors


def test_islands_find_the_island_under_a_point_and_a_polygon():
    """Point and polygon look-ups in the box tree: an L-shaped island, a separate bar, empty space."""
    c = gf.Component()
    c.add_polygon([(0, 0), (1000, 0), (1000, 10), (10, 10), (10, 1000), (0, 1000)], layer=METAL_LAYER)
    c.add_polygon([(500, 500), (600, 500), (600, 510), (500, 510)], layer=METAL_LAYER)
    islands = Islands(c, METAL_LAYER)
    assert len(islands.polygons) == 2
    l_shape = islands.at(5, 900)
    bar = islands.at(550, 505)
    assert l_shape is not None and bar is not None and l_shape != bar
    assert islands.at(900, 5) == l_shape
    assert islands.at(500, 300) is None  # inside the L's bounding box, off its metal
    dbu = c.kcl.dbu
    probe = kdb.Polygon(kdb.Box(round(590 / dbu), round(505 / dbu), round(700 / dbu), round(600 / dbu)))
    assert islands.touching(probe) == {bar}


def test_preview_draws_the_layout_in_its_colours(mesh4, tmp_path):
    """The klayout-rendered preview holds the waveguide blue and the metal yellow, framed in µm."""
    from matplotlib.image import imread

    from ffzero_photonics.layouts.preview import render_png

    path = render_png(mesh4["clements"], tmp_path / "m.png", title="mesh", dpi=60)
    rgb = (imread(path)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    colours = {tuple(v) for v in rgb}
    near = lambda target: any(sum(abs(a - b) for a, b in zip(v, target)) < 60 for v in colours)
    assert near((0x1F, 0x77, 0xB4)) and near((0xF2, 0xC1, 0x4E))


def test_progress_bars_wrap_long_loops_only_when_asked(capsys):
    from ffzero_photonics.layouts.progress import progress_bars, steps

    items = list(range(500))
    with progress_bars(False):
        assert steps(items, "x") is items
    assert steps(items[:10], "x") == items[:10]  # short loops: no bar
    with progress_bars(True):
        wrapped = steps(items, "placing")
        assert wrapped is not items and list(wrapped) == items
    assert "placing" in capsys.readouterr().err
