"""The compact floorplan: columns at the MZI cell's width, bump pads inside each cell, IO at the fibre pitch, folding."""

from __future__ import annotations

import gdsfactory as gf
import pytest

from ffzero_photonics.cli.main import main
from ffzero_photonics.components import cells
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.drc import die_size_mm, run_drc
from ffzero_photonics.layouts.extract import extract_layout, heater_positions, pad_positions
from ffzero_photonics.layouts.floorplan import COLUMN_GAP, IO_PITCH, PORT_PITCH, heater_positions_for, plan
from ffzero_photonics.layouts.lvs import check_electrical, compare_connectivity, unconnected_metal
from ffzero_photonics.layouts.mesh_layout import chip_layout, mesh_layout
from ffzero_photonics.photonic.mesh_spec import build_mesh


@pytest.fixture(scope="module", autouse=True)
def pdk():
    gf.gpdk.PDK.activate()


def test_columns_abut_at_the_mzi_cell_width_and_do_not_grow_with_n():
    mzi = cells.ffzero_heater_mzi(port_spacing=PORT_PITCH)
    width = mzi.ports["o3"].x - mzi.ports["o2"].x
    for n in (4, 16, 64):
        assert plan([build_mesh("clements", n)], prefixed=False).pitch_x == pytest.approx(width + COLUMN_GAP)


def test_every_bump_sits_inside_its_own_cells_column():
    """No heater wire leaves its cell: each bump pad lies within the x span of the instance it is wired to."""
    fp = plan([build_mesh("clements", 6)], prefixed=False)
    assert len(fp.bumps) == 3 * 15 + 2 * 6
    for bump in fp.bumps:
        p = fp.placements[bump.inst]
        box = p.cell.dbbox()
        xs = sorted(p.point(x, 0.0)[0] for x in (box.left, box.right))
        assert xs[0] <= bump.x - cells.BUMP_SIZE_UM / 2 and bump.x + cells.BUMP_SIZE_UM / 2 <= xs[1], bump


def test_bare_mesh_couplers_sit_at_the_fibre_pitch_and_fan_in():
    spec = build_mesh("clements", 4)
    c = mesh_layout(spec)
    ins = sorted((c.insts[f"in{k}"].ports["o1"].y for k in range(4)), reverse=True)
    assert [a - b for a, b in zip(ins, ins[1:])] == pytest.approx([IO_PITCH] * 3)
    assert c.insts["mzi_c0_r0"].ports["o2"].y - c.insts["mzi_c0_r0"].ports["o1"].y == pytest.approx(PORT_PITCH)
    assert compare_connectivity(c, spec) == []
    assert run_drc(c) == []


def test_two_layer_chip_is_drc_clean_and_compact():
    """The chip: 0 violations of the Cornerstone deck, every pad wired, at most a few mm for N = 4."""
    specs = [build_mesh("clements", 4), build_mesh("reck", 4)]
    c = chip_layout(specs)
    assert run_drc(c) == []
    assert unconnected_metal(c) == [] and check_electrical(c) == []
    width, height = die_size_mm(c)
    assert width < 10.0 and height < 0.5


@pytest.mark.parametrize("topology", ["clements", "reck"])
def test_folded_mesh_passes_lvs_drc_and_keeps_its_positions(topology):
    spec = build_mesh(topology, 6)
    flat = mesh_layout(spec, wiring="polygons")
    folded = mesh_layout(spec, fold=2, wiring="polygons")
    assert compare_connectivity(folded, spec) == []
    assert check_electrical(folded) == [] and unconnected_metal(folded) == []
    assert run_drc(folded) == []
    extraction = extract_layout(folded)
    assert extraction.errors == [] and extraction.n_ports == 6
    assert folded.xsize < 0.7 * flat.xsize and folded.ysize > 1.8 * flat.ysize
    assert heater_positions_for(spec, fold=2) == heater_positions(folded)
    pads = pad_positions(folded)
    assert len(pads) == len(pad_positions(flat))


def test_folded_chip_turns_its_second_band_round():
    specs = [build_mesh("clements", 4)] * 2
    c = chip_layout(specs, fold=2, wiring="polygons")
    assert compare_connectivity(c, specs) == [] and check_electrical(c) == []
    assert run_drc(c) == []
    assert extract_layout(c, n_layers=2).errors == []
    assert c.insts["out0"].ports["o1"].orientation == 0, "the detectors face east at the end of the westward band"


def test_fold_is_validated():
    with pytest.raises(UserInputError, match="fold must be an integer >= 1, got 0"):
        heater_positions_for(build_mesh("clements", 4), fold=0)
    with pytest.raises(UserInputError, match="fold=3: no 2 places between cell columns where every waveguide"):
        mesh_layout(build_mesh("reck", 5), fold=3, wiring="none")
    assert compare_connectivity(mesh_layout(build_mesh("reck", 8), fold=2, wiring="none"), build_mesh("reck", 8)) == []


def test_export_gds_folds_and_reports_the_die(tmp_path, capsys):
    out_path = tmp_path / "f.gds"
    assert main(["export-gds", "--mesh", "clements", "--ports", "6", "--fold", "2", "--out", str(out_path)]) == 0
    out = capsys.readouterr().out
    width, height = die_size_mm(out_path)
    assert f"die {width:.3f} x {height:.3f} mm" in out and "0 violations" in out
    assert height > width / 2
