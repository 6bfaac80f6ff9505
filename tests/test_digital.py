"""Digital black boxes: protocol shapes, candidate batching, query accounting, jax twin, conv math (2-D and 1-D)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import correlate2d

from ffzero_photonics.blackbox import DifferentiableTwin, LayeredBlackBox, QueryCounter
from ffzero_photonics.digital.cnn import CNN
from ffzero_photonics.digital.layers import ACTIVATIONS, Conv1D, Conv2D, Dense, activate, check_activation
from ffzero_photonics.digital.mlp import MLP



@pytest.fixture
def x64():
    """float64 jax inside one test (the twin must match numpy to 1e-10); no process-wide flip."""
    with jax.enable_x64(True):
        yield

WIDTHS = (6, 7, 5, 3)


def _x(b, n, seed=0):
    return np.random.default_rng(seed).normal(size=(b, n))


def _cands(model, layer, m, seed=1):
    return np.random.default_rng(seed).normal(size=(m, model.layer_info(layer).n_params))


def _models():
    return [
        MLP(WIDTHS, activation="tanh", seed=3),
        MLP((4, 5, 2), activation="gelu", seed=1),
        CNN(image_shape=(7, 6), channels=(3, 2), kernel=3, stride=1, seed=2),
        CNN(image_shape=(9, 9), channels=(2, 3), kernel=2, stride=2, activation="relu", seed=4),
        CNN(image_shape=(13,), channels=(3, 2), kernel=3, stride=2, seed=5),
    ]


def _reference_forward(model, x, params):
    """Per-layer outputs computed layer by layer with the unbatched forms (numpy)."""
    outs, h = [], x
    for lay, p in zip(model._layers, params):
        h = activate(lay.forward(p, h, np), model.activation, np)
        outs.append(h.reshape((len(x),) + lay.out_shape))
    return outs


# ----------------------------------------------------------------- protocol


@pytest.mark.parametrize("model", _models(), ids=lambda m: repr(m))
def test_protocol_and_shapes(model):
    assert isinstance(model, LayeredBlackBox)
    assert isinstance(model, DifferentiableTwin)
    x = _x(5, model.n_inputs)
    for layer in range(model.n_layers):
        info = model.layer_info(layer)
        assert info.domain == "real" and info.readout == "activation"
        assert model.get_params(layer).shape == (info.n_params,)
        assert model.query(x, layer).shape == (1, 5) + info.out_shape
        for src in range(layer + 1):
            out = model.query(x, layer, {src: _cands(model, src, 4)})
            assert out.shape == (4, 5) + info.out_shape
        one = model.query(x, layer, {layer: model.get_params(layer)})
        assert one.shape == (1, 5) + info.out_shape


def test_mlp_out_shapes_follow_widths():
    m = MLP((64, 100, 100, 100, 10))
    assert m.n_layers == 4 and m.n_inputs == 64
    assert [m.layer_info(l).out_shape for l in range(4)] == [(100,), (100,), (100,), (10,)]
    assert m.layer_info(0).n_params == 64 * 100 + 100


def test_cnn_out_shapes():
    c = CNN(image_shape=(8, 8), channels=(4, 4), kernel=3)
    assert c.n_inputs == 64
    assert c.layer_info(0).out_shape == (4, 6, 6)
    assert c.layer_info(1).out_shape == (4, 4, 4)
    assert c.layer_info(1).n_params == 4 * 4 * 9 + 4
    c2 = CNN(image_shape=(9, 7), channels=(2,), kernel=3, stride=2)
    assert c2.layer_info(0).out_shape == (2, 4, 3)


@pytest.mark.parametrize("model", _models(), ids=lambda m: repr(m))
def test_candidate_batching_equals_one_at_a_time(model):
    x = _x(6, model.n_inputs, seed=5)
    last = model.n_layers - 1
    cases = [{last: _cands(model, last, 3)}, {0: _cands(model, 0, 3)}]
    if model.n_layers > 2:
        cases.append({0: _cands(model, 0, 3, seed=7), last: _cands(model, last, 3, seed=8)})
    committed = [model.get_params(l) for l in range(model.n_layers)]
    for settings in cases:
        for layer in range(min(settings), model.n_layers):
            sub = {k: v for k, v in settings.items() if k <= layer}
            batched = model.query(x, layer, sub)
            for j in range(3):
                for k, v in sub.items():
                    model.set_params(k, v[j])
                single = model.query(x, layer)
                np.testing.assert_allclose(batched[j], single[0], rtol=0, atol=1e-12)
                for k in sub:
                    model.set_params(k, committed[k])


def test_batched_layer_forms_accept_stacked_inputs():
    rng = np.random.default_rng(0)
    for lay in (Dense(5, 4), Conv2D((2, 6, 5), 3, kernel=3, stride=2), Conv1D((2, 9), 3, kernel=3, stride=2)):
        params = rng.normal(size=(3, lay.n_params))
        h2 = rng.normal(size=(4, lay.in_dim))
        h3 = rng.normal(size=(3, 4, lay.in_dim))
        out2 = lay.forward_batched(params, h2)
        out3 = lay.forward_batched(params, h3)
        out1 = lay.forward_batched(params[:1], h3)
        assert out2.shape == out3.shape == (3, 4, lay.out_dim)
        assert out1.shape == (3, 4, lay.out_dim)
        for m in range(3):
            np.testing.assert_allclose(out2[m], lay.forward(params[m], h2), atol=1e-12, rtol=0)
            np.testing.assert_allclose(out3[m], lay.forward(params[m], h3[m]), atol=1e-12, rtol=0)
            np.testing.assert_allclose(out1[m], lay.forward(params[0], h3[m]), atol=1e-12, rtol=0)


def test_counter_counts_settings_samples_and_depth():
    model = MLP(WIDTHS)
    x = _x(7, WIDTHS[0])
    model.query(x, 2, {2: _cands(model, 2, 5)})
    assert model.counter.snapshot() == {"calls": 1, "settings": 5, "sample_queries": 35, "layer_evals": 105}
    model.query(x, 0)
    assert model.counter.snapshot() == {"calls": 2, "settings": 6, "sample_queries": 42, "layer_evals": 112}
    model.query(x, 1, {0: _cands(model, 0, 4)})
    assert model.counter.snapshot() == {"calls": 3, "settings": 10, "sample_queries": 70, "layer_evals": 168}
    with pytest.raises(ValueError):
        model.query(x, 1, {2: _cands(model, 2, 4)})
    assert model.counter.calls == 3
    model.counter = QueryCounter()
    model.query(x, 2, {2: _cands(model, 2, 2)})
    assert model.counter.layer_evals == 2 * 7 * 3


def test_query_validation():
    model = MLP(WIDTHS)
    x = _x(3, WIDTHS[0])
    with pytest.raises(ValueError, match="layer 3 out of range"):
        model.query(x, 3)
    with pytest.raises(ValueError, match=r"inputs must have shape"):
        model.query(x[:, :4], 0)
    with pytest.raises(ValueError, match="share M"):
        model.query(x, 1, {0: _cands(model, 0, 2), 1: _cands(model, 1, 3)})
    with pytest.raises(ValueError, match="shape"):
        model.query(x, 1, {1: np.zeros((2, 5))})


def test_set_params_validation_and_copy_semantics():
    model = MLP(WIDTHS)
    p = model.get_params(1)
    p[:] = 123.0
    assert not np.any(model.get_params(1) == 123.0)
    with pytest.raises(ValueError, match="takes"):
        model.set_params(1, np.zeros(3))
    bad = model.get_params(1)
    bad[0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        model.set_params(1, bad)
    bad[0] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        model.set_params(1, bad)
    with pytest.raises(ValueError, match="out of range"):
        model.set_params(5, np.zeros(3))
    with pytest.raises(ValueError, match="out of range"):
        model.get_params(-1)
    new = np.arange(model.layer_info(2).n_params, dtype=float)
    model.set_params(2, new)
    np.testing.assert_array_equal(model.get_params(2), new)
    new[0] = -1.0
    assert model.get_params(2)[0] == 0.0


def test_prefix_cache_tracks_params_and_inputs():
    model = MLP(WIDTHS, seed=0)
    fresh = MLP(WIDTHS, seed=0)
    x = _x(4, WIDTHS[0])
    before = model.query(x, 2)
    before[...] = 0.0
    np.testing.assert_array_equal(model.query(x, 2), fresh.query(x, 2))
    p0 = model.get_params(0) + 0.1
    model.set_params(0, p0)
    fresh.set_params(0, p0)
    c = _cands(model, 2, 3)
    np.testing.assert_array_equal(model.query(x, 2, {2: c}), fresh.query(x, 2, {2: c}))
    x[0, 0] += 1.0
    third = MLP(WIDTHS, seed=0)
    third.set_params(0, p0)
    np.testing.assert_array_equal(model.query(x, 2, {2: c}), third.query(x, 2, {2: c}))
    np.testing.assert_array_equal(model.query(x, 1), third.query(x, 1))
    model.load_state_dict(MLP(WIDTHS, seed=9).state_dict())
    np.testing.assert_array_equal(model.query(x, 2), MLP(WIDTHS, seed=9).query(x, 2))


# ----------------------------------------------------------------- twin


@pytest.mark.parametrize("model", _models(), ids=lambda m: repr(m))
def test_twin_forward_matches_query(model, x64):
    x = _x(5, model.n_inputs, seed=11)
    params = model.twin_params()
    assert len(params) == model.n_layers
    assert all(isinstance(p, jax.Array) and p.dtype == jnp.float64 for p in params)
    outs = model.twin_forward(params, jnp.asarray(x))
    for layer in range(model.n_layers):
        np.testing.assert_allclose(np.asarray(outs[layer]), model.query(x, layer)[0], rtol=0, atol=1e-10)


def test_twin_is_differentiable_and_loads_back(x64):
    model = MLP(WIDTHS, seed=2)
    x = jnp.asarray(_x(4, WIDTHS[0]))

    @jax.jit
    def loss(params):
        return jnp.sum(model.twin_forward(params, x)[-1] ** 2)

    params = model.twin_params()
    grads = jax.jit(jax.grad(loss))(params)
    assert all(g.shape == p.shape and bool(jnp.all(jnp.isfinite(g))) for g, p in zip(grads, params))
    eps = 1e-6
    d = np.zeros(model.layer_info(1).n_params)
    d[3] = 1.0
    plus = [p if i != 1 else p + eps * d for i, p in enumerate(params)]
    minus = [p if i != 1 else p - eps * d for i, p in enumerate(params)]
    fd = (loss(plus) - loss(minus)) / (2 * eps)
    assert abs(float(fd) - float(grads[1][3])) < 1e-6
    stepped = [p - 0.1 * g for p, g in zip(params, grads)]
    model.load_twin_params(stepped)
    np.testing.assert_allclose(model.get_params(1), np.asarray(stepped[1]), rtol=0, atol=0)
    assert float(loss(model.twin_params())) < float(loss(params))
    with pytest.raises(ValueError, match="expected 3"):
        model.load_twin_params(stepped[:2])


# ----------------------------------------------------------------- layer math


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_matches_scipy_correlate2d(stride):
    rng = np.random.default_rng(stride)
    lay = Conv2D((2, 7, 8), 3, kernel=3, stride=stride)
    params = rng.normal(size=lay.n_params)
    x = rng.normal(size=(4,) + lay.in_shape)
    w = params[: lay.n_weights].reshape(3, 2, 3, 3)
    b = params[lay.n_weights :]
    out = lay.forward(params, x.reshape(4, -1)).reshape((4,) + lay.out_shape)
    for n in range(4):
        for o in range(3):
            ref = sum(correlate2d(x[n, c], w[o, c], mode="valid") for c in range(2))[::stride, ::stride] + b[o]
            np.testing.assert_allclose(out[n, o], ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv1d_matches_numpy_correlate(stride):
    rng = np.random.default_rng(stride)
    lay = Conv1D((2, 11), 3, kernel=4, stride=stride)
    assert lay.out_shape == (3, (11 - 4) // stride + 1) and lay.n_params == 3 * 2 * 4 + 3
    params = rng.normal(size=lay.n_params)
    x = rng.normal(size=(4,) + lay.in_shape)
    w = params[: lay.n_weights].reshape(3, 2, 4)
    b = params[lay.n_weights :]
    out = lay.forward(params, x.reshape(4, -1)).reshape((4,) + lay.out_shape)
    for n in range(4):
        for o in range(3):
            ref = sum(np.correlate(x[n, c], w[o, c], mode="valid") for c in range(2))[::stride] + b[o]
            np.testing.assert_allclose(out[n, o], ref, rtol=0, atol=1e-12)


def test_cnn_on_a_sequence_has_1d_feature_maps():
    c = CNN(image_shape=(40,), channels=(8, 8, 8), kernel=5, stride=2, seed=0)
    assert c.n_inputs == 40
    assert [c.layer_info(l).out_shape for l in range(3)] == [(8, 18), (8, 7), (8, 2)]
    assert c.layer_info(1).n_params == 8 * 8 * 5 + 8
    w0 = c.get_params(0)[:40]
    assert np.abs(w0).max() <= np.sqrt(6.0 / (1 * 5 + 8 * 5)) and np.all(c.get_params(0)[40:] == 0.0)
    assert CNN.from_config(c.to_config()).to_config() == c.to_config()


def test_cnn_layer0_matches_scipy():
    model = CNN(image_shape=(8, 8), channels=(4, 4), kernel=3, activation="none", seed=0)
    x = _x(3, 64)
    out = model.query(x, 0)[0]
    p = model.get_params(0)
    w, b = p[:36].reshape(4, 1, 3, 3), p[36:]
    for n in range(3):
        for o in range(4):
            ref = correlate2d(x[n].reshape(8, 8), w[o, 0], mode="valid") + b[o]
            np.testing.assert_allclose(out[n, o], ref, rtol=0, atol=1e-12)


def test_dense_layer_layout():
    model = MLP((3, 2), activation="none")
    p = model.get_params(0)
    W, b = p[:6].reshape(3, 2), p[6:]
    x = _x(4, 3)
    np.testing.assert_allclose(model.query(x, 0)[0], x @ W + b, rtol=0, atol=1e-14)


def test_activations_numpy_and_jax(x64):
    z = np.linspace(-30, 30, 61)
    ref = {
        "tanh": np.tanh(z),
        "relu": np.maximum(z, 0),
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "sigmoid": 1 / (1 + np.exp(-z)),
        "none": z,
        "gelu": 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))),
    }
    assert set(ref) == set(ACTIVATIONS)
    for name, r in ref.items():
        np.testing.assert_allclose(activate(z, name, np), r, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(activate(jnp.asarray(z), name, jnp)), r, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*tanh"):
        check_activation("swish")


def test_same_activation_on_last_layer():
    model = MLP((3, 4, 2), activation="relu")
    out = model.query(_x(50, 3), 1)
    assert np.all(out >= 0)


# ----------------------------------------------------------------- construction


def test_seeded_construction_reproducible():
    a, b, c = MLP(WIDTHS, seed=5), MLP(WIDTHS, seed=5), MLP(WIDTHS, seed=6)
    for l in range(a.n_layers):
        np.testing.assert_array_equal(a.get_params(l), b.get_params(l))
    assert not np.array_equal(a.get_params(0), c.get_params(0))
    ca, cb = CNN(seed=1), CNN(seed=1)
    np.testing.assert_array_equal(ca.get_params(1), cb.get_params(1))
    assert not np.array_equal(ca.get_params(1), CNN(seed=2).get_params(1))


def test_glorot_init_and_zero_bias():
    model = MLP((64, 100, 10), seed=0)
    p = model.get_params(0)
    W, b = p[:6400], p[6400:]
    limit = np.sqrt(6 / 164)
    assert np.all(np.abs(W) <= limit) and np.abs(W).max() > 0.9 * limit
    assert abs(W.std() - limit / np.sqrt(3)) < 0.05 * limit
    np.testing.assert_array_equal(b, 0.0)
    c = CNN(channels=(4,), kernel=3)
    np.testing.assert_array_equal(c.get_params(0)[-4:], 0.0)
    assert np.all(np.abs(c.get_params(0)[:-4]) <= np.sqrt(6 / (9 + 36)))


def test_config_and_state_round_trip():
    for model in _models():
        clone = type(model).from_config(model.to_config())
        assert clone.to_config() == model.to_config()
        model.set_params(0, model.get_params(0) + 1.0)
        state = model.state_dict()
        assert sorted(state) == [f"layer_{l}" for l in range(model.n_layers)]
        clone.load_state_dict(state)
        x = _x(3, model.n_inputs)
        np.testing.assert_array_equal(clone.query(x, model.n_layers - 1), model.query(x, model.n_layers - 1))
        with pytest.raises(ValueError, match="do not match"):
            clone.load_state_dict({"layer_0": state["layer_0"]})
    assert repr(MLP((2, 3))) == "MLP(widths=[2, 3], activation='tanh', seed=0)"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"widths": (5,)}, "at least 2"),
        ({"widths": (5, 0, 3)}, r"widths\[1\] must be a positive integer, got 0"),
        ({"widths": (5, 2.5)}, r"widths\[1\].*2.5"),
        ({"widths": (5, True)}, r"widths\[1\]"),
        ({"widths": "abc"}, "sequence"),
        ({"widths": 5}, "sequence"),
        ({"activation": "swish"}, "unknown activation 'swish'"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_mlp_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_shape": (8, 8, 1)}, "image_shape"),
        ({"image_shape": (4,), "channels": (2, 2)}, "kernel 3 does not fit layer 1.*2 "),
        ({"image_shape": (8, -1)}, r"image_shape\[1\]"),
        ({"channels": ()}, "channels"),
        ({"channels": (4, 0)}, r"channels\[1\]"),
        ({"kernel": 0}, "kernel"),
        ({"stride": 0}, "stride"),
        ({"kernel": 9}, "kernel 9 does not fit layer 0.*8x8"),
        ({"channels": (2, 2, 2, 2)}, "kernel 3 does not fit layer 3.*2x2"),
        ({"image_shape": (5, 8), "stride": 2, "channels": (2, 2)}, "kernel 3 does not fit layer 1.*2x3"),
        ({"activation": "Tanh"}, "unknown activation"),
    ],
)
def test_cnn_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CNN(**kwargs)


# ----------------------------------------------------------------- 1-D CNN through the registry, trainer and CLI


@pytest.fixture(scope="module")
def small_mnist1d():
    from ffzero_photonics.data import load_dataset

    return load_dataset("mnist1d", seed=0, n_samples=400)


def test_cnn1d_is_registered_for_sequences_only(small_mnist1d):
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.errors import UserInputError
    from ffzero_photonics.registry import build_model, model_from_config

    model = build_model("cnn1d", small_mnist1d, seed=3, channels=[4, 4], kernel=5, stride=2)
    assert isinstance(model, CNN) and model.image_shape == (40,) and model.n_inputs == 40
    assert [model.layer_info(l).out_shape for l in range(2)] == [(4, 18), (4, 7)]
    assert model_from_config("cnn1d", model.to_config()).to_config() == model.to_config()
    assert build_model("cnn1d", small_mnist1d).channels == (16, 16, 16)
    with pytest.raises(UserInputError, match=r"cnn1d model needs sequence data .* 'digits' has feature shape \(8, 8\)"):
        build_model("cnn1d", load_dataset("digits", seed=0, max_train=50))
    with pytest.raises(UserInputError, match="option 'stride' takes int, got 'two'"):
        build_model("cnn1d", small_mnist1d, stride="two")


def test_cnn1d_dd_step_on_jax_matches_numpy(small_mnist1d):
    from ffzero_photonics.trainer import Trainer

    thetas = {}
    for backend in ("numpy", "jax"):
        model = CNN(image_shape=(40,), channels=(3, 3), kernel=5, stride=2, seed=1)
        Trainer(backend=backend, epochs=1, batch_size=32, seed=2).fit(model, small_mnist1d)
        thetas[backend] = np.concatenate([model.get_params(l) for l in range(model.n_layers)])
    start = CNN(image_shape=(40,), channels=(3, 3), kernel=5, stride=2, seed=1)
    assert np.max(np.abs(thetas["numpy"] - np.concatenate([start.get_params(l) for l in range(2)]))) > 1e-4
    np.testing.assert_allclose(thetas["jax"], thetas["numpy"], rtol=0, atol=1e-8 * np.abs(thetas["numpy"]).max())


def test_ffzero_train_cnn1d_on_mnist1d_through_the_cli(tmp_path):
    import json

    from ffzero_photonics.cli import main

    out = tmp_path / "run"
    args = ["train", "--model", "cnn1d", "--dataset", "mnist1d", "--channels", "4,4", "--epochs", "1",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"] == "cnn1d" and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["model_config"]["image_shape"] == [40] and metrics["model_config"]["channels"] == [4, 4]
    assert metrics["queries"] == 2 * 2 * (2600 // 16) * 16  # 2 layers x 162 steps x 2 candidates x 16 samples
