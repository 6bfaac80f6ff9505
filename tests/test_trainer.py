"""The trainer through the black-box protocol: cost accounting, learning, reproducibility, resume."""

import numpy as np
import pytest

from ffzero_photonics.blackbox import DifferentiableTwin, ForwardingBlackBox, LayeredBlackBox
from ffzero_photonics.data import load_dataset
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.digital.cnn import CNN
from ffzero_photonics.digital.mlp import MLP
from ffzero_photonics.method.scoring import r2_score, vote_predictions
from ffzero_photonics.trainer import Trainer, TrainConfig


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
    tr = Trainer(paradigm=paradigm, epochs=3, batch_size=32, lr=3e-3, optimizer="adam", schedule="constant")
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


def _interrupted_then_resumed(digits, cfg, stop_when, corrupt=None):
    """Fit until ``stop_when(trainer)`` after an epoch; resume from the saved state on a fresh model and counter."""
    model = small_mlp(cfg["seed"])
    saved = {}

    class Stop(Exception):
        pass

    def save(tr):
        saved["state"] = tr.state()
        saved["params"] = [model.get_params(l) for l in range(model.n_layers)]
        saved["counter"] = model.counter.snapshot()
        if stop_when(tr):
            raise Stop

    with pytest.raises(Stop):
        Trainer(**cfg).fit(model, digits, on_epoch=save)
    meta, arrays = saved["state"]
    if corrupt is not None:
        meta, arrays = corrupt(meta, arrays)
    fresh = small_mlp(cfg["seed"])
    for l, p in enumerate(saved["params"]):
        fresh.set_params(l, p)
    fresh.counter.load(saved["counter"])
    resumed = Trainer.from_state(meta, arrays)
    resumed.fit(fresh, digits)
    return saved["state"], resumed, fresh


def _uninterrupted(digits, cfg):
    model = small_mlp(cfg["seed"])
    trainer = Trainer(**cfg)
    trainer.fit(model, digits)
    return trainer, model


def _without_times(history):
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in history]


STAGE_CFG = dict(epochs=2, batch_size=64, seed=5, lr=1e-2, optimizer="adam")


def test_state_at_a_stage_boundary_describes_the_next_stage_and_resumes_exactly(digits):
    full, full_model = _uninterrupted(digits, STAGE_CFG)
    (meta, arrays), resumed, fresh = _interrupted_then_resumed(digits, STAGE_CFG, lambda tr: len(tr.history) == 2)
    assert meta["position"] == [1, 0] and meta["partial"] is None
    assert meta["n_opt_leaves"] == 0 and not [k for k in arrays if k.startswith("opt_")]
    for l in range(2):
        np.testing.assert_array_equal(fresh.get_params(l), full_model.get_params(l))
    assert _without_times(resumed.history) == _without_times(full.history)


def test_an_older_state_with_the_finished_stages_optimizer_at_a_boundary_still_resumes(digits):
    """Checkpoints written before the fix kept the finished stage's optimizer leaves at (stage + 1, 0)."""
    full, full_model = _uninterrupted(digits, STAGE_CFG)

    def with_stale_leaves(meta, arrays):
        return dict(meta, n_opt_leaves=2), dict(arrays, opt_0=np.zeros(27), opt_1=np.zeros(40))

    _, resumed, fresh = _interrupted_then_resumed(digits, STAGE_CFG, lambda tr: len(tr.history) == 2,
                                                  corrupt=with_stale_leaves)
    for l in range(2):
        np.testing.assert_array_equal(fresh.get_params(l), full_model.get_params(l))
    assert resumed.train_cost == full.train_cost


def test_every_counter_is_identical_after_a_resume_in_a_later_stage(digits):
    full, full_model = _uninterrupted(digits, STAGE_CFG)
    (meta, arrays), resumed, fresh = _interrupted_then_resumed(digits, STAGE_CFG, lambda tr: len(tr.history) == 3)
    assert meta["val_cache_layers"] == [0] and arrays["val_scores_0"].shape == (len(digits.X_val), 10)
    assert fresh.counter == full_model.counter
    assert resumed.train_cost == full.train_cost
    assert [r["val_vote"] for r in resumed.history] == [r["val_vote"] for r in full.history]


def test_r2_score_is_one_for_a_perfect_fit_and_zero_for_the_mean():
    y = np.array([1.0, 2.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(3, y.mean())) == 0.0


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
    (dict(paradigm="bp-dd", layer_epochs=(1, 2)), "layer_epochs is for the layer-wise paradigms"),
    (dict(layer_epochs=(1, 0)), "layer_epochs must be positive integers, one per layer, got"),
    (dict(layer_epochs=()), "layer_epochs must be positive integers"),
])
def test_config_names_the_bad_value(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        TrainConfig(**kwargs)


def test_autodiff_needs_a_twin(digits):
    class Opaque(ForwardingBlackBox):
        twin_params = twin_forward = load_twin_params = None  # hides the MLP's twin

    with pytest.raises(UserInputError, match="needs a differentiable twin"):
        Trainer(paradigm="bp-ad", epochs=1).fit(Opaque(small_mlp()), digits)


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


def test_unset_fields_resolve_from_the_model_recipe_then_the_paradigm():
    cfg = TrainConfig(paradigm="bp-dd", lr=0.1)
    assert not cfg.is_resolved and cfg.eps is None
    r = cfg.resolved({"eps": 0.3, "lr": 0.5})
    assert r.is_resolved
    assert (r.lr, r.eps, r.epochs, r.batch_size, r.optimizer, r.schedule) == (0.1, 0.3, 1200, 16, "adam", "cosine")


def test_paper_preset_is_fully_set():
    p = TrainConfig.paper(seed=3)
    assert (p.batch_size, p.optimizer, p.lr, p.schedule, p.epochs, p.eps, p.seed) == \
        (256, "sgd", 0.256, "constant", 100, 1e-3, 3)
    assert p.resolved({"eps": 0.3}) == p


def test_fit_resolves_the_config_it_trains_with(digits):
    tr = Trainer(paradigm="ff-ad", epochs=1)
    tr.fit(small_mlp(), digits)
    assert (tr.config.lr, tr.config.batch_size, tr.config.eps) == (1e-2, 16, 1e-3)
    assert Trainer.from_state(*tr.state()).config == tr.config


def test_forwarding_wrapper_overrides_one_method_and_changes_nothing_else(digits):
    class Metered(ForwardingBlackBox):
        def __init__(self, inner):
            super().__init__(inner)
            self.samples = 0

        def query(self, x, layer, settings=None):
            self.samples += len(x)
            return super().query(x, layer, settings)

    bare, wrapped = small_mlp(1), Metered(small_mlp(1))
    assert isinstance(wrapped, LayeredBlackBox) and isinstance(wrapped, DifferentiableTwin)
    assert wrapped.counter is wrapped.inner.counter and wrapped.n_inputs == 64 and wrapped.n_layers == 2
    cfg = dict(epochs=1, batch_size=100, seed=5)
    Trainer(**cfg).fit(bare, digits)
    Trainer(**cfg).fit(wrapped, digits)
    for l in range(2):
        np.testing.assert_array_equal(wrapped.get_params(l), bare.get_params(l))
    assert wrapped.counter.snapshot() == bare.counter.snapshot()
    assert wrapped.samples >= wrapped.counter.calls * 100
    twin = Metered(small_mlp())
    Trainer(paradigm="bp-ad", epochs=1, batch_size=200).fit(twin, digits)
    assert twin.samples > 0  # evaluation still goes through query


def test_each_layer_trains_its_own_budget_and_resumes_inside_it(digits):
    cfg = dict(STAGE_CFG, layer_epochs=(1, 3))
    full, full_model = _uninterrupted(digits, cfg)
    assert [row["stage"] for row in full.history] == [0, 1, 1, 1]
    even, _ = _uninterrupted(digits, STAGE_CFG)  # two epochs a layer: the same four epochs' queries
    assert full.train_cost.sample_queries == even.train_cost.sample_queries > 0
    assert [row["epoch"] for row in full.history] == [0, 0, 1, 2]
    (meta, _), resumed, fresh = _interrupted_then_resumed(digits, cfg, lambda tr: len(tr.history) == 2)
    assert meta["position"] == [1, 1]  # inside the second layer's three epochs
    for l in range(2):
        np.testing.assert_array_equal(fresh.get_params(l), full_model.get_params(l))
    assert _without_times(resumed.history) == _without_times(full.history)
    assert TrainConfig.from_dict(full.config.to_dict()).layer_epochs == (1, 3)
    assert "layer_epochs" not in TrainConfig().to_dict()  # older run directories stay readable
    with pytest.raises(UserInputError, match="layer_epochs has 3 entries but the model trains 2 layers"):
        Trainer(**dict(STAGE_CFG, layer_epochs=(1, 1, 1))).fit(small_mlp(5), digits)
