"""A folded (serpentine) chip, ``[chip] fold``: simulated with the folded layout's heater positions and path lengths,
exported folded from its run and verified as drawn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ffzero_photonics.chip_factory import FoldedChipPositions, build_chip_from_config, layout_positions_for
from ffzero_photonics.cli.main import main
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.drc import die_size_mm
from ffzero_photonics.layouts.extract import extract_layout, heater_positions, layout_route_lengths
from ffzero_photonics.layouts.floorplan import heater_positions_for
from ffzero_photonics.layouts.mesh_layout import chip_layout, mesh_layout
from ffzero_photonics.layouts.readback import read_gds
from ffzero_photonics.photonic.chip_config import ChipConfig
from ffzero_photonics.photonic.mesh_spec import build_mesh
from ffzero_photonics.photonic.physical import column_pitch_um
from ffzero_photonics.runs import load_run
from ffzero_photonics.tapeout import export_chip, verify_run
from ffzero_photonics.tapeout.drawn_cells import run_activations
from ffzero_photonics.tapeout.export import layout_params

SPEC = build_mesh("clements", 8)


def _config(fold: int, **chip) -> ChipConfig:
    """A 2-layer Clements-8 physical chip folded into ``fold`` bands."""
    return ChipConfig.from_dict({"chip": {"model": "physical", "ports": 8, "layers": 2, "fold": fold, **chip}})


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_fold_is_a_validated_integer_of_the_chip_table(bad):
    with pytest.raises(UserInputError, match=r"\[chip\] fold") as info:
        ChipConfig.from_dict({"chip": {"fold": bad}})
    assert repr(bad) in str(info.value) and "\n" not in str(info.value)


def test_fold_defaults_to_flat_and_round_trips(tmp_path):
    assert ChipConfig().chip.fold == 1 and "fold" not in ChipConfig().to_dict(compact=True).get("chip", {})
    config = _config(2)
    path = tmp_path / "chip.toml"
    config.to_toml(path, compact=True)
    assert "fold = 2" in path.read_text() and ChipConfig.from_toml(path) == config
    assert _config(2, n_features=4).chip_kwargs()["fold"] == 2  # recorded by the chip, so a reloaded run keeps it
    assert "fold" not in _config(1, n_features=4).chip_kwargs()  # flat chips keep their configuration unchanged


def test_a_reloaded_folded_chip_keeps_its_positions_and_routes():
    from ffzero_photonics.chip_factory import with_layout
    from ffzero_photonics.photonic.chip import PhotonicChip

    chip = build_chip_from_config(_config(2, n_features=4))
    again = PhotonicChip.from_config(with_layout(chip.to_config()))
    flat = build_chip_from_config(_config(1, n_features=4))
    assert chip.to_config()["fold"] == 2 and "fold" not in flat.to_config()
    np.testing.assert_allclose(again.physical.route_um, chip.physical.route_um, rtol=0, atol=1e-9)
    assert not np.allclose(flat.physical.route_um, chip.physical.route_um)


def test_folded_chip_places_heaters_where_the_folded_layout_draws_them(tmp_path):
    """Crosstalk positions = the heater centres read back from the drawn GDS, not the flat ones; the drawn path
    length adds the U-turns exactly as the extracted routes do."""
    spec = SPEC
    folded, flat = (build_chip_from_config(_config(fold, n_features=8)) for fold in (3, 1))
    assert folded.heater_positions == FoldedChipPositions(layers=2, fold=3)
    export_chip([spec, spec], None, tmp_path / "f.gds", fold=3)
    drawn = heater_positions(read_gds(tmp_path / "f.gds"))
    by_layer = folded.heater_positions.by_layer(spec)
    for l in range(2):
        assert by_layer[l] == {h: drawn[f"L{l}_{h}"] for h in spec.heater_names}
    assert folded.heater_positions(spec) == by_layer[0]
    assert by_layer[1] != flat.heater_positions(spec)  # layer 1 sits in the turned band
    # the same distances (a moved or turned mesh) give the same crosstalk; the U-turns lengthen the drawn path
    np.testing.assert_allclose(_dense(folded.physical.crosstalk[1]), _dense(flat.physical.crosstalk[1]), atol=1e-12)
    routes = [sum(r.sum() for r in layout_route_lengths(extract_layout(chip_layout([spec, spec], fold=f, wiring="none"),
                                                                       n_layers=2), [spec, spec])) for f in (1, 3)]
    turn = FoldedChipPositions(2, 3).turn_um(spec)
    assert turn == pytest.approx((routes[1] - routes[0]) / 8, abs=1e-6) and turn > 1000
    np.testing.assert_allclose(np.array(folded.physical.route_um) - flat.physical.route_um, turn / 2, atol=1e-6)
    assert folded.physical.layers[1].loss_dB > flat.physical.layers[1].loss_dB


def _dense(matrix):
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def test_a_folded_single_mesh_keeps_its_column_pitch_and_adds_its_u_turns():
    spec = SPEC
    positions = FoldedChipPositions(layers=1, fold=2)(spec)
    assert dict(positions) == heater_positions_for(spec, fold=2)
    assert column_pitch_um(spec, positions) == pytest.approx(column_pitch_um(spec, heater_positions_for(spec)))
    routes = [layout_route_lengths(extract_layout(mesh_layout(spec, fold=f, wiring="none"), n_layers=1), [spec])[0].sum()
              for f in (1, 2)]
    assert positions.extra_route_um == pytest.approx((routes[1] - routes[0]) / 8, abs=1e-6)


def test_a_fold_that_cuts_the_layers_differently_is_refused():
    positions = layout_positions_for({}, layers=2, fold=3)
    with pytest.raises(UserInputError, match=r"\[chip\] fold = 3 cuts layer 1 of the 2-layer chip elsewhere"):
        positions(build_mesh("clements", 16))
    with pytest.raises(UserInputError, match=r"\[chip\] fold must be an integer >= 1, got 0"):
        layout_positions_for({}, fold=0)


def test_a_fold_between_the_activation_sub_columns_keeps_the_port_order():
    extraction = extract_layout(chip_layout([SPEC, SPEC], fold=2, wiring="none"), n_layers=2)
    assert [s.split(",")[0] for s in extraction.layers[0].sinks] == [f"L0_screen_p{k}" for k in range(8)]


@pytest.fixture(scope="module")
def folded_run(tmp_path_factory):
    """A 2-layer Clements-8 physical chip, [chip] fold = 3, trained for 2 epochs and exported with `--from` only."""
    root = tmp_path_factory.mktemp("fold")
    _config(3).to_toml(root / "chip.toml", compact=True)
    run = root / "run"
    assert main(["train", "--model", "photonic", "--chip-config", str(root / "chip.toml"), "--dataset", "iris",
                 "--epochs", "2", "--out", str(run), "--no-progress"]) == 0
    assert main(["export-gds", "--from", str(run), "--out", str(root / "chip.gds")]) == 0
    return run, root / "chip.gds"


def test_a_folded_run_is_exported_folded_and_verifies(folded_run, tmp_path, capsys):
    run, gds = folded_run
    drawn = heater_positions(read_gds(gds))
    assert {k: v for k, v in drawn.items() if k.startswith(("L0_", "L1_"))} == {
        k: v for k, v in heater_positions_for([SPEC, SPEC], fold=3).items() if k.startswith(("L0_", "L1_"))}
    assert main(["verify", str(run), "--gds", str(gds), "--json", str(tmp_path / "v.json")]) == 0
    assert "PASS" in capsys.readouterr().out
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["passed"] and max(report["deviation_routes"]) < 1e-9


def test_a_folded_run_fails_verify_on_the_flat_drawing_of_its_phases(folded_run, tmp_path):
    """The flat layout driven by the table compensated for the folded one: the U-turns' phases are missing."""
    run, _ = folded_run
    _, _, model, _ = load_run(run)
    specs, tap = list(model.specs), float(run_activations(model)[0].alpha)
    params = layout_params(specs, [model.get_params(l) for l in range(2)], fold=3, tap_fraction=tap)
    h = model.physics.heaters
    export_chip(specs, params, tmp_path / "flat.gds", p_pi_mW=h.p_pi_mW, resistance_ohm=h.resistance_ohm,
                phase_range_rad=h.phase_range_rad, tap_fraction=tap)
    report = verify_run(run, tmp_path / "flat.gds")
    assert not report.passed and any(e.startswith("heater table:") for e in report.errors)


def test_export_gds_refuses_a_fold_that_disagrees_with_the_run(folded_run, tmp_path, capsys):
    run, _ = folded_run
    assert main(["export-gds", "--from", str(run), "--fold", "2", "--out", str(tmp_path / "x.gds")]) != 0
    err = capsys.readouterr().err.strip()
    assert "fold = 2 differs from the run's [chip] fold = 3" in err and "\n" not in err
    assert not (tmp_path / "x.gds").exists()


def test_export_gds_folds_a_config_with_a_fold(tmp_path, capsys):
    """An untrained layout from a CHIP.toml takes its [chip] fold; --fold overrides it."""
    ChipConfig.from_dict({"chip": {"ports": 4, "layers": 2, "fold": 2}}).to_toml(tmp_path / "c.toml", compact=True)
    sizes = []
    for extra in ([], ["--fold", "1"]):
        out = tmp_path / f"c{len(extra)}.gds"
        assert main(["export-gds", "--config", str(tmp_path / "c.toml"), "--out", str(out), *extra]) == 0
        sizes.append(die_size_mm(out))
    assert "0 violations" in capsys.readouterr().out
    (w_fold, h_fold), (w_flat, h_flat) = sizes
    assert w_fold < 0.7 * w_flat and h_fold > 1.8 * h_flat
