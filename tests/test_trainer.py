"""The trainer through the black-box protocol: cost accounting, learning, reproducibility, resume."""

import numpy as np
import pytest

from ffzero_photonics.data import load_dataset
from ffzero_photonics.digital.cnn import CNN
from ffzero_photonics.digital.mlp import MLP
from ffzero_photonics.trainer import Trainer, TrainConfig, vote_predictions


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def small_mlp(seed=0):
    return MLP(widths=(64, 32, 10), activation="tanh", seed=seed)


@pytest.mark.parametrize("n_dirs,scheme,per_step", [(1, "central", 2), (3, "central", 6), (2, "forward", 3)])
def test_dd_step_costs_exactly_2k_settings(digits, n_dirs, scheme, per_step):
    model = small_mlp()
    tr = Trainer(epochs=1, batch_size=100, n_dirs=n_dirs, scheme=scheme)
    tr.fit(model, digits)
    steps = model.n_layers * (len(digits.X_train) // 100)
    assert tr.train_cost.calls == steps  # one batched request per step
    assert tr.train_cost.settings == per_step * steps
    assert tr.train_cost.sample_queries == per_step * steps * 100
    assert tr.history[-1]["train_settings"] == per_step * steps


def test_bp_dd_perturbs_every_layer_in_one_request(digits):
    model = small_mlp()
    tr = Trainer(paradigm="bp-dd", epochs=1, batch_size=100)
    tr.fit(model, digits)
    steps = len(digits.X_train) // 100
    assert tr.train_cost.calls == steps and tr.train_cost.settings == 2 * steps
    assert tr.train_cost.layer_evals == 2 * steps * 100 * model.n_layers


def test_ffzero_beats_chance_on_digits(digits):
    model = MLP(widths=(64, 100, 10), seed=0)
    tr = Trainer(epochs=20, batch_size=16, lr=1e-2, optimizer="adam", schedule="cosine")
    tr.fit(model, digits)
    acc = tr.evaluate(model, digits)["test_accuracy"]
    assert acc > 0.5, acc  # chance is 0.1


def test_ffzero_trains_a_cnn(digits):
    model = CNN(image_shape=(8, 8), channels=(4, 4), kernel=3, seed=0)
    tr = Trainer(epochs=15, batch_size=16, lr=1e-2, optimizer="adam")
    tr.fit(model, digits)
    assert tr.evaluate(model, digits)["test_accuracy"] > 0.3  # chance 0.1; small CNNs are weak local learners


@pytest.mark.parametrize("paradigm", ["ff-ad", "bp-ad"])
def test_autodiff_baselines_train(digits, paradigm):
    model = small_mlp()
    tr = Trainer(paradigm=paradigm, epochs=3, batch_size=32, lr=3e-3, optimizer="adam")
    tr.fit(model, digits)
    assert tr.evaluate(model, digits)["test_accuracy"] > 0.85


def test_regression_with_prototype_cosine():
    data = load_dataset("f1", seed=0, n_samples=800)
    model = MLP(widths=(2, 32, 16), seed=0)
    tr = Trainer(paradigm="ff-ad", epochs=40, batch_size=32, lr=1e-2, optimizer="adam")
    tr.fit(model, data)
    assert tr.evaluate(model, data)["test_r2"] > 0.5


def test_same_seed_same_numbers(digits):
    runs = []
    for _ in range(2):
        model = small_mlp(seed=3)
        tr = Trainer(epochs=2, batch_size=64, seed=3, lr=1e-2, optimizer="adam")
        tr.fit(model, digits)
        runs.append(np.concatenate([model.get_params(l) for l in range(model.n_layers)]))
    np.testing.assert_array_equal(runs[0], runs[1])
    other = small_mlp(seed=3)
    Trainer(epochs=2, batch_size=64, seed=4, lr=1e-2, optimizer="adam").fit(other, digits)
    assert not np.array_equal(runs[0], np.concatenate([other.get_params(l) for l in range(2)]))


def test_resume_from_state_equals_uninterrupted(digits):
    cfg = dict(epochs=3, batch_size=64, seed=1, lr=1e-2, optimizer="adam")
    full_model = small_mlp(1)
    full = Trainer(**cfg)
    full.fit(full_model, digits)

    model = small_mlp(1)
    saved = {}

    class Stop(Exception):
        pass

    def stop_after_four(tr):
        saved["state"] = tr.state()
        saved["params"] = [model.get_params(l) for l in range(model.n_layers)]
        if len(tr.history) == 4:  # mid-way through layer 1
            raise Stop

    with pytest.raises(Stop):
        Trainer(**cfg).fit(model, digits, on_epoch=stop_after_four)
    fresh = small_mlp(1)
    for l, p in enumerate(saved["params"]):
        fresh.set_params(l, p)
    resumed = Trainer.from_state(*saved["state"])
    resumed.fit(fresh, digits)
    assert resumed.finished and len(resumed.history) == len(full.history)
    for l in range(2):
        np.testing.assert_array_equal(fresh.get_params(l), full_model.get_params(l))
    assert resumed.train_cost == full.train_cost


def test_vote_majority_and_tie_break():
    s = np.zeros((3, 2, 3))
    s[0, 0, 1] = s[1, 0, 1] = s[2, 0, 2] = 1.0  # sample 0: votes 1,1,2 -> 1
    s[0, 1, 0] = 0.9
    s[1, 1, 2] = 0.2  # sample 1: votes 0,2,0(all zero -> argmax 0) -> 0
    assert list(vote_predictions(s)) == [1, 0]


@pytest.mark.parametrize("kwargs,match", [
    (dict(paradigm="bp-xx"), "unknown paradigm 'bp-xx'"),
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(lr=-1.0), "lr must be a positive finite number"),
    (dict(eps=float("nan")), "eps must be a positive finite number"),
    (dict(optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
])
def test_config_names_the_bad_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_autodiff_needs_a_twin(digits):
    class Opaque:
        def __init__(self):
            self.inner = small_mlp()
            self.counter = self.inner.counter
            self.n_layers, self.n_inputs = self.inner.n_layers, self.inner.n_inputs
            self.layer_info, self.get_params = self.inner.layer_info, self.inner.get_params
            self.set_params, self.query = self.inner.set_params, self.inner.query

    with pytest.raises(ValueError, match="needs a differentiable twin"):
        Trainer(paradigm="bp-ad", epochs=1).fit(Opaque(), digits)


def test_resume_inside_an_epoch_equals_uninterrupted(digits):
    cfg = dict(epochs=2, batch_size=64, seed=2, lr=1e-2, optimizer="adam", checkpoint_every=5)
    full_model = small_mlp(2)
    full = Trainer(**cfg)
    full.fit(full_model, digits)

    model = small_mlp(2)
    saved = {}

    class Stop(Exception):
        pass

    def save(tr):
        saved["state"] = tr.state()
        saved["params"] = [model.get_params(l) for l in range(model.n_layers)]

    def stop_mid_epoch(tr):
        save(tr)
        if tr.state()[0]["partial"]["next_batch"] == 10 and len(tr.history) == 2:  # layer 1, first epoch, step 10
            raise Stop

    with pytest.raises(Stop):
        Trainer(**cfg).fit(model, digits, on_epoch=save, on_step=stop_mid_epoch)
    fresh = small_mlp(2)
    for l, p in enumerate(saved["params"]):
        fresh.set_params(l, p)
    resumed = Trainer.from_state(*saved["state"])
    resumed.fit(fresh, digits)
    for l in range(2):
        np.testing.assert_array_equal(fresh.get_params(l), full_model.get_params(l))
    assert resumed.train_cost == full.train_cost
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
