"""Chip views in a photonic run directory: the arrays they show are the chip's own numbers, and the PNGs are written."""

from itertools import combinations
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.image import imread

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.lab.client import RemoteChip
from ffzero_photonics.lab.server import ChipServer
from ffzero_photonics.layouts.floorplan import heater_positions_for
from ffzero_photonics.photonic.activation import EOActivation
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.registry import ModelEntry, get_model
from ffzero_photonics.runs import RunSpec, train_run
from ffzero_photonics.runs.chip_view_data import (
    heater_grid,
    heater_powers_mW,
    layout_heaters,
    power_flow,
    transfer_powers,
)
from ffzero_photonics.runs.chip_views import ACTIVATION_FILE, VIEW_FILES, _activation_cell, write_chip_views
from ffzero_photonics.runs.plots import learning_curves_figure
from ffzero_photonics.trainer import TrainConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chip(ports=4, layers=2, **kw):
    return PhotonicChip(6, ports=ports, layers=layers, seed=3, **kw)


def samples(n=5, features=6):
    return np.random.default_rng(7).random((n, features)) + 0.05


def test_heater_grid_marks_no_heater_as_nan_and_zero_drive_as_zero():
    c = chip(init="identity")  # theta = pi, phi = 0: every phi heater is undriven
    spec = c.specs[0]
    grid = heater_grid(spec, heater_powers_mW(c, 0))
    assert grid.shape == (spec.n_ports, 2 * spec.n_columns + 1)
    assert np.isnan(grid).sum() == grid.size - spec.n_params
    for m in spec.mzis:
        assert grid[m.row, 2 * m.column] == 0.0  # phi: zero drive, a heater that is there
        assert grid[m.row, 2 * m.column + 1] > 0  # theta = pi draws P_pi
        assert np.isnan(grid[m.row + 1, 2 * m.column])  # the lower arm carries no heater
    assert np.all(grid[:, -1] == 0.0)  # identity screen
    with pytest.raises(ValueError, match=r"one value per heater \(16,\)"):
        heater_grid(spec, np.zeros(3))


def test_heater_powers_sum_to_the_chips_total_heater_power():
    c = chip(ports=8, init="uniform")
    total_mW = sum(heater_powers_mW(c, l).sum() for l in range(c.n_layers))
    assert total_mW * 1e-3 == pytest.approx(float(c.heater_power_W()[0]), rel=1e-12)


def test_power_flow_is_the_chips_forward_pass():
    c = chip(ports=8, layers=2, init="uniform")
    x = samples()[0]
    flows = power_flow(c, x)
    assert [f.shape for f in flows] == [(9, 8), (9, 8)]
    assert flows[0][0].sum() == pytest.approx(c.input_power)
    for f in flows:  # an ideal mesh is lossless: every column carries the power that entered
        np.testing.assert_allclose(f.sum(axis=1), f[0].sum(), rtol=1e-10)
    np.testing.assert_allclose(flows[-1][-1], c.query(x[None], 1).reshape(-1), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(c.activation.alpha * flows[0][-1], c.query(x[None], 0).reshape(-1), rtol=1e-10, atol=1e-15)
    transmitted = (1 - c.activation.alpha) * np.cos(c.activation.phase(flows[0][-1])) ** 2 * flows[0][-1]
    np.testing.assert_allclose(flows[1][0], transmitted, rtol=1e-10, atol=1e-15)  # the activation between layers


def test_power_flow_of_a_fabricated_chip_ends_at_its_transfer_matrix():
    c = chip(ports=8, layers=1, init="uniform", nonideal={"fabrication": {"coupler_std": 0.03, "mzi_loss_dB": 0.2}})
    x = samples()[0]
    flow = power_flow(c, x)[0]
    out = np.abs(c.unitary(0) @ c.input_fields(x[None])[0]) ** 2
    np.testing.assert_allclose(flow[-1], out, rtol=1e-10)
    assert np.all(np.diff(flow.sum(axis=1)) < 0)  # every column loses light


def test_transfer_powers_of_a_lossless_mesh_are_doubly_stochastic():
    for u2 in transfer_powers(chip(ports=8, layers=2, init="uniform")):
        np.testing.assert_allclose(u2.sum(axis=1), 1.0, atol=1e-10)
        np.testing.assert_allclose(u2.sum(axis=0), 1.0, atol=1e-10)


def test_layout_heaters_are_the_drawn_positions_inside_the_die():
    c = chip(ports=4, layers=2, init="uniform")
    powers = [heater_powers_mW(c, l) for l in range(2)]
    lh = layout_heaters(c.specs, powers)
    positions = heater_positions_for(c.specs)
    assert set(lh.names) <= set(positions) and len(lh.names) == sum(s.n_params for s in c.specs)
    assert set(lh.other_names) == set(positions) - set(lh.names)  # drawn devices that are not mesh heaters
    np.testing.assert_array_equal(lh.xy_um, [positions[n] for n in lh.names])
    np.testing.assert_array_equal(lh.power_mW, np.concatenate(powers))
    x0, y0, x1, y1 = lh.die_um
    assert np.all((lh.xy_um[:, 0] > x0) & (lh.xy_um[:, 0] < x1) & (lh.xy_um[:, 1] > y0) & (lh.xy_um[:, 1] < y1))
    zx0, zy0, zx1, zy1 = lh.zoom_um
    assert x0 < zx0 < zx1 < x1 and zy0 < zy1


def test_activation_figure_curve_is_the_chips_activation():
    eo = EOActivation(alpha=0.2, gain=0.7, phase_bias=2.5)
    cell = _activation_cell(eo, None)
    p = np.linspace(0, 5, 50)
    np.testing.assert_allclose(cell.output_power_mW(p), (1 - eo.alpha) * np.cos(eo.phase(p)) ** 2 * p, rtol=1e-12)
    assert _activation_cell(EOActivation(alpha=0.0), None) is None  # no tap, no curve
    assert _activation_cell(EOActivation(gain=-0.1), None) is None  # no TIA has a negative gain


def _check_png(path, min_px=250):
    assert path.read_bytes()[:8] == PNG_MAGIC
    h, w = imread(path).shape[:2]
    assert h >= min_px and w >= min_px


def test_write_chip_views_writes_every_view(tmp_path):
    c = chip(ports=8, layers=2, init="uniform")
    before = c.counter.snapshot()
    paths = write_chip_views(c, tmp_path, SimpleNamespace(X_test=samples()))
    assert [p.name for p in paths] == [*VIEW_FILES, ACTIVATION_FILE]
    for p in paths:
        _check_png(p)
    assert sorted(q.name for q in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left over
    assert c.counter.snapshot() == before  # views make no query


def test_a_one_layer_chip_has_no_activation_view_and_a_served_chip_no_views(tmp_path):
    paths = write_chip_views(chip(ports=4, layers=1), tmp_path / "one", SimpleNamespace(X_test=samples()))
    assert [p.name for p in paths] == list(VIEW_FILES)
    served = tmp_path / "served"
    served.mkdir()
    with ChipServer(chip(ports=4, layers=1)) as server:
        remote = RemoteChip(server.url)
        assert write_chip_views(remote, served, SimpleNamespace(X_test=samples())) == []
        remote.close()
    assert list(served.iterdir()) == []


def test_photonic_run_directory_holds_the_views_and_digital_runs_do_not(tmp_path):
    train = TrainConfig(epochs=1, seed=0, batch_size=64)
    spec = RunSpec(model="photonic", dataset="iris", model_options={"ports": 4, "layers": 2}, train=train)
    train_run(spec, tmp_path / "chip", progress=False, log=lambda _m: None)
    names = {p.name for p in (tmp_path / "chip").iterdir()}
    assert {*VIEW_FILES, ACTIVATION_FILE, "learning_curves.png"} <= names and "heater_phases.png" not in names
    spec = RunSpec(model="mlp", dataset="iris", model_options={"hidden": [4]}, train=train)
    train_run(spec, tmp_path / "mlp", progress=False, log=lambda _m: None)
    assert not {*VIEW_FILES, ACTIVATION_FILE} & {p.name for p in (tmp_path / "mlp").iterdir()}


def test_registry_figures_field():
    assert callable(get_model("photonic").figures) and get_model("mlp").figures is None
    with pytest.raises(UserInputError, match="figures must be callable or None, got 'x'"):
        ModelEntry(name="m", description="", build=dict, from_config=dict, figures="x")


def test_learning_curve_tick_labels_do_not_overlap():
    history, q = [], 0
    for stage in range(2):
        for epoch in range(300):
            q += 1_168  # up to 7e5 queries: the old plain labels (100000, 200000, ...) ran together
            history.append(dict(stage=stage, layer=stage, epoch=epoch, loss=1 / (epoch + 1), train_score=0.5,
                                val_score=0.5, metric="accuracy", train_sample_queries=q))
    fig = learning_curves_figure(history)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(fig.axes) == 2
    for ax in fig.axes:
        (top,) = ax.child_axes
        assert top.get_xlabel() == "epoch (all stages)"
        for axis in (ax, top):
            boxes = [t.get_window_extent(renderer) for t in axis.get_xticklabels() if t.get_text() and t.get_visible()]
            assert len(boxes) >= 3
            assert not any(a.overlaps(b) for a, b in combinations(boxes, 2))


def test_views_of_a_physical_chip_match_its_detectors_and_heater_power(tmp_path):
    c = PhotonicChip(6, ports=8, layers=2, seed=1, physics={"thermal": {"positions": "grid"}})
    x = samples()[:1]
    flows = power_flow(c, x[0])
    readouts = c.detector_powers(x)  # noise-free detector powers (mW), no query made
    cells = c.physical.activations
    np.testing.assert_allclose(flows[-1][-1], readouts[-1][0], rtol=1e-9)
    np.testing.assert_allclose(cells[0].alpha * flows[0][-1], readouts[0][0], rtol=1e-9)
    total_mW = sum(heater_powers_mW(c, l).sum() for l in range(c.n_layers))
    assert total_mW * 1e-3 == pytest.approx(float(c.heater_power_W()[0]), rel=1e-12)
    paths = write_chip_views(c, tmp_path, SimpleNamespace(X_test=samples()))
    assert [p.name for p in paths] == [*VIEW_FILES, ACTIVATION_FILE]
