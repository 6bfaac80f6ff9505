"""The gradient-free baselines (SPSA, separable CMA-ES) and the physics-aware coordinate estimator."""

import pickle
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import brentq

from ffzero_photonics.blackbox import INTERVAL, PERIODIC, LayerInfo
from ffzero_photonics.cli import main
from ffzero_photonics.data import load_dataset
from ffzero_photonics.digital.mlp import MLP
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.method.baselines import BoxTransform, CMASearch, SPSASearch, default_popsize
from ffzero_photonics.method.coordinate import CoordinateSearch, fit_sinusoids, sinusoid_values, third_points
from ffzero_photonics.method.domains import FlatDomain
from ffzero_photonics.method.objectives import build_objectives
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.trainer import Trainer, TrainConfig, default_train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, standardize=False)


def small_chip(seed=0, layers=2, **kw):
    return PhotonicChip(16, ports=4, layers=layers, seed=seed, **kw)


def _layer_problem(layer):
    """A 4-port ideal chip, a batch, its local objective at ``layer`` and the closures the searchers get."""
    chip = small_chip(seed=3)
    rng = np.random.default_rng(1)
    x = rng.random((12, 16))
    targets = np.eye(3)[rng.integers(0, 3, 12)]
    objective = build_objectives([chip.layer_info(l) for l in range(2)], 3, seed=0)[layer]

    def measure(cand):
        return chip.query(x, layer, {layer: cand})

    def score(out):
        return objective.losses(np, out, targets)

    return chip, measure, score


@pytest.mark.parametrize("layer", [0, 1])
def test_three_settings_give_every_detector_sinusoid_and_the_exact_1d_optimum(layer):
    chip, measure, score = _layer_problem(layer)
    theta = chip.get_params(layer)
    j = 5
    search = CoordinateSearch(FlatDomain.from_infos([chip.layer_info(layer)]), np.random.default_rng(0),
                              n_coords=1, rate=1.0)
    search.rng = _Fixed(j)
    before = chip.counter.sample_queries
    new, _ = search.step(theta, measure, score)
    assert chip.counter.sample_queries - before == 3 * 12  # one call, three settings of one heater
    np.testing.assert_array_equal(np.delete(new, j), np.delete(theta, j))

    def loss_at(phi):
        cand = theta.copy()
        cand[j] = phi
        return score(measure(cand[None]))[0]

    # the fitted sinusoids predict the chip's readings at any other phase
    phases = np.array([[theta[j], theta[j] + 2, theta[j] - 1]])
    values = np.stack([measure(np.where(np.arange(theta.size) == j, p, theta)[None])[0] for p in phases[0]])[None]
    coef = fit_sinusoids(phases, values)
    probe = np.array([[0.3, 4.0]])
    truth = np.stack([measure(np.where(np.arange(theta.size) == j, p, theta)[None])[0] for p in probe[0]])
    np.testing.assert_allclose(sinusoid_values(coef, probe)[0], truth, rtol=0, atol=1e-12)
    # the true optimum, from the chip itself: a scan, then the root of the measured slope
    grid = np.linspace(0, 2 * np.pi, 721)
    best = grid[np.argmin([loss_at(p) for p in grid])]
    slope = lambda p: (loss_at(p + 1e-5) - loss_at(p - 1e-5)) / 2e-5  # noqa: E731
    true = brentq(slope, best - 0.01, best + 0.01, xtol=1e-13)
    gap = (new[j] - true + np.pi) % (2 * np.pi) - np.pi
    assert abs(gap) < 1e-8, gap
    assert loss_at(new[j]) <= loss_at(theta[j])


class _Fixed:
    """An rng stand-in whose ``choice`` picks one fixed heater."""

    def __init__(self, j):
        self.j = j

    def choice(self, n, size, replace):
        return np.array([self.j])


def test_third_points_stay_inside_a_bounded_range_and_distinct():
    low, high = np.zeros(4), np.full(4, 7.07)
    theta = np.array([0.0, 1.0, 6.0, 7.07])
    pts = third_points(theta, low, high)
    assert np.all((pts >= 0) & (pts <= 7.07))
    phases = np.column_stack([theta, pts])
    design = np.stack([np.ones_like(phases), np.cos(phases), np.sin(phases)], axis=-1)
    assert np.all(np.abs(np.linalg.det(design)) > 0.1)  # well-posed fits
    narrow = third_points(np.array([0.5]), np.zeros(1), np.ones(1))  # a range shorter than a turn: reflected
    assert np.all((narrow >= 0) & (narrow <= 1)) and len(set(np.round(narrow[0], 9)) | {0.5}) == 3


def test_coordinate_fit_is_exact_for_bounded_phases():
    infos = [LayerInfo(n_params=3, out_shape=(2,), domain=INTERVAL, low=0.0, high=4.0, readout="power")]
    a, b, c = np.array([1.0, 0.5]), np.array([0.3, -0.2]), np.array([-0.4, 0.1])

    def measure(cand):  # detector powers that are sinusoids of heater 1
        phi = cand[:, 1][:, None, None]
        return (a + b * np.cos(phi) + c * np.sin(phi)) * np.ones((1, 1, 2))

    def score(out):
        return np.mean((out[..., 0] - 1.25) ** 2, axis=-1)

    search = CoordinateSearch(FlatDomain.from_infos(infos), np.random.default_rng(0), n_coords=1, rate=1.0)
    search.rng = _Fixed(1)
    new, _ = search.step(np.array([0.0, 3.9, 0.0]), measure, score)
    phi = np.linspace(0, 4, 400001)
    true = phi[np.argmin((1.0 + 0.3 * np.cos(phi) - 0.4 * np.sin(phi) - 1.25) ** 2)]
    assert 0 <= new[1] <= 4 and abs(new[1] - true) < 1e-4


def _quadratic(dim=6, target=0.7):
    def measure(cand):
        return np.asarray(cand)[:, None, :]  # (M, B=1, D)

    def score(out):
        return np.sum((out[:, 0, :] - target) ** 2, axis=-1)

    return measure, score


def test_spsa_and_cma_reduce_a_quadratic():
    measure, score = _quadratic()
    domain = FlatDomain.from_infos([LayerInfo(n_params=6, out_shape=(1,))])
    start = score(measure(np.zeros((1, 6))))[0]
    spsa = SPSASearch(domain, np.random.default_rng(0), lr=0.05, eps=0.1, n_dirs=1, total_steps=150)
    cma = CMASearch(domain, np.zeros(6), np.random.default_rng(0), eps=0.5)
    for search in (spsa, cma):
        theta = np.zeros(6)
        for _ in range(150):
            theta, _ = search.step(theta, measure, score)
        assert score(measure(theta[None]))[0] < 0.05 * start, type(search).__name__


def test_cma_respects_bounds_without_clipping_and_leaves_numpys_global_state_alone():
    infos = [LayerInfo(n_params=5, out_shape=(1,), domain=INTERVAL, low=0.0, high=1.0)]
    domain = FlatDomain.from_infos(infos)
    measure, score = _quadratic(5, target=1.4)  # the optimum lies outside: the search presses on the bound
    state = np.random.get_state()[1].copy()
    cma = CMASearch(domain, np.full(5, 0.5), np.random.default_rng(0), eps=2.0, popsize=8)
    seen = []
    for _ in range(40):
        theta, _ = cma.step(None, lambda c: (seen.append(c), measure(c))[1], score)
    cands = np.concatenate(seen)
    assert cands.min() >= 0 and cands.max() <= 1 and theta.max() > 0.95
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    box = BoxTransform(domain)
    inside = np.array([0.2, 0.5, 0.6, 0.3, 0.7])
    np.testing.assert_allclose(box.to_params(box.to_latent(inside)), inside, atol=1e-12)
    assert box.to_params(np.array([-3.0, 9.0, 0.5, 0.5, 0.5])).min() >= 0


def test_periodic_candidates_are_wrapped():
    domain = FlatDomain.from_infos([LayerInfo(n_params=4, out_shape=(1,), domain=PERIODIC)])
    measure, score = _quadratic(4, target=6.0)
    cma = CMASearch(domain, np.full(4, 6.2), np.random.default_rng(0), eps=3.0)
    seen = []
    theta, _ = cma.step(None, lambda c: (seen.append(c), measure(c))[1], score)
    assert seen[0].min() >= 0 and seen[0].max() < 2 * np.pi and 0 <= theta.min() and theta.max() < 2 * np.pi


@pytest.mark.parametrize("estimator,n_dirs,per_step", [("spsa", 2, 4), ("cma", 6, 6), ("cma", 1, None),
                                                        ("coordinate", 4, 9)])
def test_queries_are_counted_exactly(digits, estimator, n_dirs, per_step):
    chip = PhotonicChip.for_data(digits, ports=16, layers=1, seed=0)
    per_step = per_step or default_popsize(chip.layer_info(0).n_params)
    tr = Trainer(estimator=estimator, n_dirs=n_dirs, epochs=1, batch_size=128, seed=0)
    tr.fit(chip, digits)
    steps = len(digits.X_train) // 128
    assert tr.train_cost.calls == steps
    assert tr.train_cost.settings == per_step * steps
    assert tr.train_cost.sample_queries == per_step * steps * 128


@pytest.mark.parametrize("estimator,extra", [("cma", {"n_dirs": 8, "eps": 3.0}), ("spsa", {"lr": 0.5}),
                                             ("coordinate", {"n_dirs": 16})])
def test_baselines_learn_on_a_small_chip(digits, estimator, extra):
    chip = PhotonicChip.for_data(digits, ports=16, layers=1, seed=0)
    tr = Trainer(estimator=estimator, epochs=3, batch_size=32, seed=0, **extra)
    tr.fit(chip, digits)
    assert tr.history[-1]["loss"] < tr.history[0]["loss"]
    assert tr.history[-1]["val_score"] > 0.3  # chance 0.1


@pytest.mark.parametrize("estimator", ["spsa", "cma", "coordinate"])
def test_resume_mid_run_equals_uninterrupted(digits, estimator):
    cfg = dict(estimator=estimator, n_dirs=4, epochs=3, batch_size=128, seed=2)
    full_chip = PhotonicChip.for_data(digits, ports=16, layers=2, seed=2)
    full = Trainer(**cfg)
    full.fit(full_chip, digits)
    chip = PhotonicChip.for_data(digits, ports=16, layers=2, seed=2)
    saved = {}

    class Stop(Exception):
        pass

    def save(tr):
        saved["state"] = tr.state()
        saved["params"] = [chip.get_params(l) for l in range(2)]
        if len(tr.history) == 2:  # inside layer 0's run, with optimizer state
            raise Stop

    with pytest.raises(Stop):
        Trainer(**cfg).fit(chip, digits, on_epoch=save)
    fresh = PhotonicChip.for_data(digits, ports=16, layers=2, seed=2)
    for l, p in enumerate(saved["params"]):
        fresh.set_params(l, p)
    resumed = Trainer.from_state(*saved["state"])
    resumed.fit(fresh, digits)
    for l in range(2):
        np.testing.assert_array_equal(fresh.get_params(l), full_chip.get_params(l))
    assert resumed.train_cost == full.train_cost


def test_defaults_unchanged_and_estimator_recipes():
    assert "estimator" not in TrainConfig().to_dict()  # run directories of DD runs keep their config
    assert TrainConfig(estimator="spsa").to_dict()["estimator"] == "spsa"
    assert default_train("ffzero") == default_train("ffzero", estimator="dd")
    assert TrainConfig(estimator="spsa").resolved({"eps": 0.3}) == replace(TrainConfig().resolved({"eps": 0.3}),
                                                                            estimator="spsa")
    coordinate = TrainConfig(estimator="coordinate").resolved({"lr": 0.01})  # the step fraction, not the model's lr
    assert (coordinate.lr, coordinate.schedule) == (0.5, "cosine")
    assert TrainConfig(estimator="coordinate", lr=0.2).resolved().lr == 0.2  # a user's value wins


@pytest.mark.parametrize("kwargs,match", [
    (dict(estimator="newton"), "unknown estimator 'newton'"),
    (dict(estimator="cma", paradigm="ff-ad"), "paradigm 'ff-ad'"),
    (dict(estimator="spsa", backend="jax"), "backend 'jax'"),
])
def test_config_names_the_bad_estimator(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        TrainConfig(**kwargs)


def test_coordinate_refuses_non_phase_models_and_global_multi_layer_runs(digits):
    with pytest.raises(UserInputError, match="not phases"):
        Trainer(estimator="coordinate", epochs=1).fit(MLP(widths=(64, 16, 10)), digits)
    with pytest.raises(UserInputError, match="use paradigm ffzero"):
        Trainer(estimator="coordinate", paradigm="bp-dd", epochs=1).fit(small_chip(layers=2), _four_features())
    with pytest.raises(UserInputError, match=r"lr must be in \(0, 1\], got 2"):
        Trainer(estimator="coordinate", lr=2.0, epochs=1).fit(small_chip(layers=1), _four_features())


def _four_features():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    x = rng.random((40, 16))
    y = rng.integers(0, 3, 40)
    return SimpleNamespace(X_train=x, y_train=y, X_val=x, y_val=y, n_classes=3, task="classification")


@pytest.mark.parametrize("args,match", [
    (["--estimator", "newton"], "--estimator: unknown estimator 'newton'"),
    (["--estimator", "coordinate"], "not phases"),
    (["--estimator", "spsa", "--paradigm", "bp-ad"], "paradigm 'bp-ad'"),
])
def test_cli_bad_estimator_is_one_line_exit_2(tmp_path, capsys, args, match):
    code = main(["train", "--out", str(tmp_path / "run"), "--no-progress", "--epochs", "1", "--hidden", "16", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ffzero: error:") and err.count("\n") == 1, err
    assert match in err, err


def test_cli_trains_with_an_estimator(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--estimator", "cma", "--dirs", "6", "--hidden", "16", "--epochs", "1", "--batch-size",
                 "128", "--out", str(out), "--no-progress"]) == 0
    steps = 2 * (len(load_dataset("digits", seed=0).X_train) // 128)  # the 64-16-10 MLP, layer by layer
    assert f"{6 * steps * 128:,} training sample queries" in capsys.readouterr().out


class _Payload:
    def __reduce__(self):
        import os
        return os.system, ("echo pwned > /dev/null",)


@pytest.mark.parametrize("blob", [
    pickle.dumps(_Payload()),  # a global outside cma and numpy
    pickle.dumps(np.zeros(2), protocol=0),  # protocol 0: constructor calls
    b"cnumpy\nsave\n(S'/tmp/x'\nI1\ntR.",  # numpy, but a function that writes files
], ids=["os.system", "protocol 0", "numpy.save"])
def test_a_cma_checkpoint_that_would_run_code_is_refused_in_one_line(blob):
    domain = FlatDomain.from_infos([LayerInfo(n_params=6, out_shape=(4,), readout="power", domain=PERIODIC)])
    search = CMASearch(domain, np.zeros(6), np.random.default_rng(0), eps=0.3)
    with pytest.raises(UserInputError, match="refusing to load it"):
        search.load_state_leaves([np.frombuffer(blob, dtype=np.uint8)])
