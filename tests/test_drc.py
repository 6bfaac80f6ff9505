"""DRC on the PDK's rules: a clean layout passes, each deliberate violation is caught under its own rule, CLI exit codes."""

from __future__ import annotations

import json

import gdsfactory as gf
import pytest

from ffzero_photonics.cli import main
from ffzero_photonics.components.rules import CORNERSTONE_SI220, LayerRule
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.drc import die_size_mm, fits_reticle, run_drc
from ffzero_photonics.layouts.layers import ensure_pdk

M3 = (49, 0)


@pytest.fixture(autouse=True)
def _pdk():
    ensure_pdk()


def _place(c: gf.Component, cell: gf.Component, x: float = 0.0, y: float = 0.0, rotation: float = 0.0):
    ref = c << cell
    if rotation:
        ref.rotate(rotation)
    ref.move((x, y))
    return ref


def _clean() -> gf.Component:
    c = gf.Component()
    _place(c, gf.components.straight(length=50.0))
    _place(c, gf.components.straight(length=50.0), y=20.0)
    bend = _place(c, gf.components.bend_circular(radius=10.0), x=100.0)
    assert bend.ports["o1"].width == pytest.approx(0.5)
    _place(c, gf.components.pad(size=(80.0, 80.0), layer="MTOP"), x=0.0, y=200.0)
    _place(c, gf.components.pad(size=(80.0, 80.0), layer="MTOP"), x=150.0, y=200.0)
    _place(c, gf.components.rectangle(size=(200.0, 10.0), layer=M3), x=0.0, y=100.0)
    return c


def _rules(component) -> set[tuple[str, str]]:
    return {(v.rule, v.layer.split()[0]) for v in run_drc(component)}


def test_clean_layout_passes():
    assert run_drc(_clean()) == []


def test_narrow_waveguide_is_min_width():
    c = gf.Component()
    _place(c, gf.components.straight(length=20.0, width=0.3))
    assert _rules(c) == {("min_width", "WG")}


def test_close_waveguides_are_min_space():
    c = gf.Component()
    _place(c, gf.components.straight(length=20.0))
    _place(c, gf.components.straight(length=20.0), y=0.65)  # 0.15 um edge to edge
    violations = run_drc(c)
    assert {(v.rule, v.layer.split()[0]) for v in violations} == {("min_space", "WG")}
    assert all(-0.1 < v.y_um < 0.75 for v in violations)


def test_metal_gap_is_min_space():
    c = gf.Component()
    _place(c, gf.components.rectangle(size=(200.0, 10.0), layer=M3))
    _place(c, gf.components.rectangle(size=(200.0, 10.0), layer=M3), y=15.0)  # 5 um gap < 10 um
    assert _rules(c) == {("min_space", "M3")}


def test_close_pads_are_pad_min_space_only():
    c = gf.Component()
    _place(c, gf.components.pad(size=(80.0, 80.0), layer="MTOP"))
    _place(c, gf.components.pad(size=(80.0, 80.0), layer="MTOP"), x=95.0)  # 15 um: metal-legal, pad-illegal
    assert _rules(c) == {("pad_min_space", "PAD")}


def test_tight_bend_is_min_bend_radius():
    c = gf.Component()
    _place(c, gf.components.bend_circular(radius=2.0, allow_min_radius_violation=True))
    violations = run_drc(c)
    assert {(v.rule, v.layer.split()[0]) for v in violations} == {("min_bend_radius", "WG")}
    assert "radius 1." in violations[0].detail  # inner edge of a 2 um bend: 1.75 um


@pytest.mark.parametrize("radius, tight", [(4.5, True), (5.0, False), (10.0, False)])
def test_bend_radius_threshold_is_the_decks(radius, tight):
    c = gf.Component()
    _place(c, gf.components.bend_circular(radius=radius, allow_min_radius_violation=True))
    assert _rules(c) == ({("min_bend_radius", "WG")} if tight else set())


def test_route_across_two_waveguides_is_overlap():
    c = gf.Component()
    _place(c, gf.components.straight(length=40.0))
    _place(c, gf.components.straight(length=40.0), y=10.0)
    _place(c, gf.components.straight(length=30.0), x=20.0, y=-10.0, rotation=90)  # drawn across both
    violations = run_drc(c)
    assert {(v.rule, v.layer.split()[0]) for v in violations} == {("overlap", "WG")}
    assert sorted(round(v.y_um) for v in violations) == [0, 10]
    assert all(v.x_um == pytest.approx(20.0, abs=0.3) for v in violations)


def test_crossing_cell_and_abutting_routes_pass():
    c = gf.Component()
    cross = _place(c, gf.components.crossing())
    for port in ("o1", "o2", "o3", "o4"):
        wg = c << gf.components.straight(length=10.0)
        wg.connect("o1", cross.ports[port])
    assert run_drc(c) == []


def test_export_gds_reports_die_power_and_drc(tmp_path, capsys):
    """A Clements N=4 export is DRC-clean; export-gds reports the count, the die size and the heater power."""
    out_path = tmp_path / "c4.gds"
    assert main(["export-gds", "--mesh", "clements", "--ports", "4", "--out", str(out_path)]) == 0
    out = capsys.readouterr().out
    width, height = die_size_mm(out_path)
    assert f"die {width:.3f} x {height:.3f} mm" in out and 1.5 < width < 2.5
    assert "total heater power n/a" in out  # untrained: the table has no drive powers
    assert run_drc(out_path) == []
    assert "DRC (CORNERSTONE 220 nm SOI (cspdk si220)): 0 violations" in out


def test_tapeout_report_sums_heater_power_and_warns_past_the_reticle(tmp_path, capsys):
    from ffzero_photonics.cli.export_gds import report_tapeout

    die = gf.Component()
    _place(die, gf.components.rectangle(size=(34000.0, 1000.0), layer=(99, 0)))
    gds = tmp_path / "wide.gds"
    die.write_gds(gds)
    table = tmp_path / "wide_heaters.csv"
    table.write_text("heater,pad,pad_x_um,pad_y_um,phase_rad,power_mW,voltage_V\n"
                     "a,pad_a,0,0,1.0,6.5,0.1\nb,pad_b,0,0,2.0,13.5,0.1\n")
    report_tapeout(gds, table)
    captured = capsys.readouterr()
    assert "die 34.000 x 1.000 mm, total heater power 0.0200 W" in captured.out
    assert "exceeds the 26 x 33 mm reticle" in captured.err
    assert "0 violations" in captured.out


def test_die_size_and_reticle(tmp_path):
    c = _clean()
    path = tmp_path / "clean.gds"
    c.write_gds(path)
    width, height = die_size_mm(path)
    assert width == pytest.approx(0.240, abs=1e-6)  # first pad's west edge (-40 um) to the wire's east end (200 um)
    assert (width, height) == pytest.approx((c.xsize / 1000, c.ysize / 1000))
    assert fits_reticle((30.0, 20.0)) and fits_reticle((1.0, 27.0)) and not fits_reticle((27.0, 27.0))


def test_rule_validation_names_the_value():
    with pytest.raises(UserInputError, match="min_width_um.*-1"):
        LayerRule("WG", (1, 0), (3, 0), min_width_um=-1, min_space_um=0.2)
    assert CORNERSTONE_SI220.waveguide.foundry == (3, 0)


def test_cli_exit_codes(tmp_path, capsys):
    clean = tmp_path / "clean.gds"
    _clean().write_gds(clean)
    assert main(["drc", str(clean)]) == 0
    assert "0 DRC violations" in capsys.readouterr().out

    bad = gf.Component()
    _place(bad, gf.components.straight(length=20.0, width=0.3))
    bad_path = tmp_path / "bad.gds"
    bad.write_gds(bad_path)
    assert main(["drc", str(bad_path)]) == 1
    out = capsys.readouterr().out
    assert "min_width" in out and "WG 1/0" in out and " at (" in out
    assert main(["drc", str(bad_path), "--json"]) == 1
    listed = json.loads(capsys.readouterr().out)
    assert listed and {v["rule"] for v in listed} == {"min_width"}

    assert main(["drc", str(tmp_path / "missing.gds")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    junk = tmp_path / "junk.gds"
    junk.write_text("not a gds")
    assert main(["drc", str(junk)]) == 2
