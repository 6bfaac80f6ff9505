"""Virtual fab (ffzero_photonics.fab, ``ffzero fab``): seeded instances of an exported chip, in-situ recovery."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ffzero_photonics.blackbox import ForwardingBlackBox, LayeredBlackBox
from ffzero_photonics.cli.main import main
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.fab.design import load_design
from ffzero_photonics.fab.instance import FabricatedChip
from ffzero_photonics.fab.run import (
    epochs_for_budget,
    recover_instance,
    run_fab,
    tune_config,
    yield_curve,
)
from ffzero_photonics.fab.spread import FabSpread, draw_errors
from ffzero_photonics.photonic.mesh_spec import clements
from ffzero_photonics.photonic.netlist import WL0
from ffzero_photonics.runs import RunSpec, train_run
from ffzero_photonics.tapeout import export_chip, export_run
from ffzero_photonics.tapeout.layout_network import LayoutNetwork
from ffzero_photonics.tapeout.signoff import layer_unitary, signoff_run
from ffzero_photonics.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 1-layer N=4 Clements run on iris and its export_run GDS + heater table: (run dir, gds path)."""
    root = tmp_path_factory.mktemp("fab")
    run = root / "run"
    spec = RunSpec(model="photonic", model_options={"ports": 4, "layers": 1}, dataset="iris",
                   train=TrainConfig(paradigm="ffzero", epochs=60, batch_size=16, lr=3e-2, optimizer="adam"))
    train_run(spec, run, progress=False, log=lambda m: None)
    (root / "gds").mkdir()
    result, _ = export_run(run, root / "gds" / "chip.gds")
    return run, result.gds_path


@pytest.fixture(scope="module")
def design(exported):
    return load_design(str(exported[0]), str(exported[1]))


def test_same_seed_same_instances(design):
    spread = FabSpread()
    a = draw_errors(design.specs, design.paths, spread, seed=3, instance=5)
    b = draw_errors(design.specs, design.paths, spread, seed=3, instance=5)
    c = draw_errors(design.specs, design.paths, spread, seed=3, instance=6)
    assert np.array_equal(a.dneff[0]["routes"], b.dneff[0]["routes"]) and np.array_equal(a.coupling[0], b.coupling[0])
    assert not np.array_equal(a.dneff[0]["routes"], c.dneff[0]["routes"])
    u1 = FabricatedChip(design, spread, seed=3, instance=5).unitaries()[0]
    u2 = FabricatedChip(design, spread, seed=3, instance=5).unitaries()[0]
    assert np.array_equal(u1, u2)
    assert not np.allclose(u1, FabricatedChip(design, spread, seed=4, instance=5).unitaries()[0])


def test_zero_spread_is_the_drawn_chip(exported, design):
    """No variation: the instance is the drawn chip and scores exactly the exported (signoff nominal) accuracy."""
    chip = FabricatedChip(design, FabSpread.zero(), seed=0, instance=7)
    drawn = layer_unitary(design.specs[0], design.drives[0], design.paths[0], WL0)
    assert np.allclose(chip.unitaries()[0], drawn, rtol=0, atol=1e-13)
    nominal = signoff_run(exported[0], exported[1]).accuracy["nominal"][0]
    assert chip.test_accuracy() == design.exported_accuracy == nominal
    x = design.data.X_test[:8]
    assert np.allclose(chip.query(x, 0), LayoutNetwork(design.model, [drawn]).query(x, 0), atol=1e-12)


def test_larger_spread_lowers_the_as_fabricated_accuracy(design):
    def mean_accuracy(spread):
        return np.mean([FabricatedChip(design, spread, seed=0, instance=k).test_accuracy() for k in range(12)])

    small = mean_accuracy(FabSpread(1e-6, 0.0, 0.0, 0.0, 0.0, crosstalk=False))
    large = mean_accuracy(FabSpread(sigma_neff=1e-3, width_sigma_nm=1.0, mmi_std=0.05))
    assert design.exported_accuracy > 0.6
    assert small > large + 0.1


def test_in_situ_fine_tune_uses_only_the_black_box(design):
    """The trainer gets a spy around the instance: every query goes through it and is counted; hidden state is unreachable."""
    spies = []

    class Spy(ForwardingBlackBox):
        def __init__(self, inner):
            super().__init__(inner)
            self.queries = 0
            spies.append(self)

        def query(self, x, layer, settings=None):
            self.queries += 1
            return super().query(x, layer, settings)

    spread = FabSpread(sigma_neff=3e-4)
    row = recover_instance(design, spread, seed=0, instance=1, epochs=2, chip_wrapper=Spy)
    (spy,) = spies
    assert isinstance(spy, LayeredBlackBox) and not hasattr(spy, "unitaries") and not hasattr(spy, "_errors")
    assert spy.queries == row["calls"] > 0
    assert row["sample_queries"] > 0 and row["lab_s"] > 0
    assert not np.array_equal(spy.get_params(0), design.drives[0])
    untouched = FabricatedChip(design, spread, seed=0, instance=1)
    assert untouched.test_accuracy() == row["accuracy_before"]


@pytest.fixture(scope="module")
def physical_design(exported_physical_run):
    """The exported 2-layer N=4 physical chip (detector noise, drift) as a fab design."""
    run, result = exported_physical_run
    return load_design(str(run), str(result.gds_path))


@pytest.mark.parametrize("which", ["paper", "physical"])
def test_an_instance_recovers_on_the_compiled_engine_as_on_numpy(design, physical_design, which):
    """Same drives, queries, lab seconds, drift and noise stream after an in-situ fine-tune on either engine."""
    d = design if which == "paper" else physical_design
    chips = {}
    for backend in ("numpy", "jax"):
        chip = FabricatedChip(d, FabSpread(sigma_neff=3e-4), seed=0, instance=2)
        Trainer(tune_config(d, 3, backend=backend)).fit(chip, d.data)
        chips[backend] = chip
    a, b = chips["numpy"], chips["jax"]
    for l in range(a.n_layers):
        np.testing.assert_allclose(b.get_params(l), a.get_params(l), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(b._drift[l], a._drift[l], rtol=0, atol=0)
    assert not np.array_equal(a.get_params(0), d.drives[0])
    assert b.counter.snapshot() == a.counter.snapshot() and b.lab_seconds == a.lab_seconds > 0
    assert b._rng.bit_generator.state == a._rng.bit_generator.state
    assert b.test_accuracy() == a.test_accuracy()
    if which == "physical":
        assert a._detectors is not None and np.max(np.abs(a._drift[0])) > 0


def test_an_instance_compiled_query_reads_what_query_reads(physical_design):
    import jax

    a, b = (FabricatedChip(physical_design, FabSpread(), seed=0, instance=3) for _ in range(2))
    x = physical_design.data.X_train[:5]
    rng = np.random.default_rng(0)
    for layer in range(a.n_layers):
        cand = a.get_params(layer)[None] + 0.1 * rng.standard_normal((3, a.layer_info(layer).n_params))
        cand = np.clip(cand, a.layer_info(layer).low, a.layer_info(layer).high)
        want = a.query(x, layer, {layer: cand})
        lab = b.lab_draws(x[None], 3, layer)
        one = jax.tree_util.tree_map(lambda v: v[0], lab)
        with jax.enable_x64(True):
            got = np.asarray(b.compiled_query([b.get_params(l) for l in range(layer)] + [cand], x, layer, one))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        assert b.lab_seconds == a.lab_seconds and b._rng.bit_generator.state == a._rng.bit_generator.state


def test_budget_and_yield_curve(design):
    one = epochs_for_budget(design, 1)
    assert one == 1 and epochs_for_budget(design, 10**9) > 100
    _, y = yield_curve([0.2, 0.5, 0.9], [0.0, 0.5, 0.95])
    assert list(y) == pytest.approx([1.0, 2 / 3, 0.0])
    with pytest.raises(UserInputError, match="instances"):
        run_fab(design.run_dir, design.gds_path, instances=0)
    with pytest.raises(UserInputError, match="sigma_neff"):
        FabSpread(sigma_neff=-1.0)


def test_cli_writes_csv_json_and_yield(exported, tmp_path, capsys):
    run, gds = exported
    out = tmp_path / "fab"
    assert main(["fab", str(run), "--gds", str(gds), "--instances", "2", "--epochs", "1", "--out", str(out)]) == 0
    with open(out / "fab.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["instance"]) for r in rows] == [0, 1] and all(int(r["sample_queries"]) > 0 for r in rows)
    summary = json.loads((out / "fab.json").read_text())
    assert summary["instances"] == 2 and set(summary["yield_after"]) >= {"0.5", "0.9"}
    assert (out / "yield.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_cli_bad_inputs(exported, tmp_path, capsys):
    run, gds = exported
    out = str(tmp_path / "out")
    assert main(["fab", str(run), "--gds", str(gds), "--instances", "0", "--out", out]) == 2
    assert "--instances" in capsys.readouterr().err
    assert main(["fab", str(run), "--gds", str(gds), "--epochs", "1", "--budget-queries", "9", "--out", out]) == 2
    assert "not both" in capsys.readouterr().err
    lonely = tmp_path / "lonely.gds"
    lonely.write_bytes(gds.read_bytes())
    assert main(["fab", str(run), "--gds", str(lonely), "--out", out]) == 2
    assert "heater table" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    export_chip(clements(6), np.zeros(clements(6).n_params), other / "chip6.gds")
    assert main(["fab", str(run), "--gds", str(other / "chip6.gds"), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "another chip" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
