"""mnist1d as a built-in dataset, 28x28 MNIST-format IDX data through ``idx:DIR``, too-narrow prototype layers."""

import gzip
import json
import random
import socket
import struct

import numpy as np
import pytest

from ffzero_photonics.blackbox import LayerInfo
from ffzero_photonics.cli import main
from ffzero_photonics.data import BUILTIN_DATASETS, IDX_FILES, load_dataset
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.method.objectives import build_objectives
from ffzero_photonics.photonic.encoding import ImageEncoder
from ffzero_photonics.registry import build_model

FAST = ["--epochs", "2", "--hidden", "16", "--batch-size", "64", "--no-progress"]


def _one_error_line(err: str) -> bool:
    return err.startswith("ffzero: error:") and err.count("\n") == 1 and "Traceback" not in err


# ----------------------------------------------------------------- mnist1d


def test_mnist1d_shapes_classes_and_standardization():
    ds = load_dataset("mnist1d", seed=0, n_samples=500)
    assert ds.name == "mnist1d" and ds.task == "classification"
    assert ds.n_classes == 10 and ds.feature_shape == (40,) and ds.n_features == 40
    assert ds.sizes == {"train": 325, "val": 75, "test": 100}
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert set(np.unique(y)) == set(range(10))  # stratified: every class in every split
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1.0, atol=1e-12)
    assert np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test])).tolist() == [50] * 10


def test_mnist1d_default_size_is_4000():
    ds = load_dataset("mnist1d", seed=1)
    assert sum(ds.sizes.values()) == 4000 and ds.sizes["test"] == 800 and ds.sizes["val"] == 600


def test_mnist1d_is_seeded_and_leaves_the_global_rngs_alone():
    np.random.seed(123)
    random.seed(123)
    a = load_dataset("mnist1d", seed=4, n_samples=200)
    assert np.random.rand() == np.random.RandomState(123).rand()
    assert random.random() == random.Random(123).random()
    b = load_dataset("mnist1d", seed=4, n_samples=200)
    c = load_dataset("mnist1d", seed=5, n_samples=200)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.X_train.shape == c.X_train.shape and not np.array_equal(a.X_train, c.X_train)


def test_mnist1d_generates_offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mnist1d tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    ds = load_dataset("mnist1d", seed=2, n_samples=100)
    assert sum(ds.sizes.values()) == 100


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=105), "n_samples for mnist1d must be a multiple of 10.*got 105"),
    (dict(seed=2**32), "seed for mnist1d must be below 2\\*\\*32, got 4294967296"),
    (dict(n_samples=20), "cannot stratify"),
])
def test_mnist1d_bad_sizes_are_user_errors(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        load_dataset("mnist1d", **kwargs)


def test_mnist1d_is_listed_and_trains_through_the_cli(tmp_path, capsys):
    assert "mnist1d" in BUILTIN_DATASETS
    assert main(["list", "datasets", "--json"]) == 0
    assert "mnist1d" in json.loads(capsys.readouterr().out)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist1d", "--out", str(out), *FAST]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["dataset"] == "mnist1d"
    assert 0.0 <= m["test_accuracy"] <= 1.0 and m["queries"] > 0
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 2 * 2  # header + 2 layers x 2 epochs


# ----------------------------------------------------------------- 28x28 IDX


def _write_idx(path, arr, gz):
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def _mnist_28(directory, gz, n_train=60, n_test=20):
    """A small MNIST-format set: 28x28 uint8 images (a bright block whose place says the class), 10 labels."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(y):
            r, c = divmod(int(label), 5)
            x[i, 4 + 12 * r: 12 + 12 * r, 2 + 5 * c: 6 + 5 * c] = 255
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y
    directory.mkdir()
    for key, stem in IDX_FILES.items():
        _write_idx(directory / (stem + (".gz" if gz else "")), arrays[key], gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_28x28_loads(tmp_path, gz):
    arrays = _mnist_28(tmp_path / "mnist", gz)
    raw = load_dataset(f"idx:{tmp_path / 'mnist'}", standardize=False, val_fraction=0.2, seed=0)
    assert raw.feature_shape == (28, 28) and raw.n_features == 784 and raw.n_classes == 10
    assert raw.sizes == {"train": 48, "val": 12, "test": 20}
    np.testing.assert_array_equal(raw.X_test, arrays["x_test"].reshape(20, 784) / 255.0)
    np.testing.assert_array_equal(raw.y_test, arrays["y_test"])
    std = load_dataset(f"idx:{tmp_path / 'mnist'}", val_fraction=0.2, seed=0)
    np.testing.assert_allclose(std.X_train.mean(axis=0), 0.0, atol=1e-12)


def test_cnn_and_photonic_chip_build_on_28x28(tmp_path):
    _mnist_28(tmp_path / "mnist", gz=True)
    ds = load_dataset(f"idx:{tmp_path / 'mnist'}", val_fraction=0.2, seed=0)
    x = ds.X_test[:5]
    cnn = build_model("cnn", ds)
    assert cnn.query(x, 0).shape == (1, 5, 16, 26, 26)
    assert cnn.query(x, cnn.n_layers - 1).shape == (1, 5, 16, 24, 24)
    for ports, method in ((16, "pool"), (25, "resize"), (64, "resize")):
        chip = build_model("photonic", ds, ports=ports, layers=2)
        enc = chip.encoder
        assert isinstance(enc, ImageEncoder) and enc.method == method and enc.grid_shape == (ports**0.5,) * 2
        np.testing.assert_allclose(enc.matrix.sum(axis=1), 1.0, atol=1e-12)  # each port averages its area
        np.testing.assert_allclose(enc.matrix.sum(axis=0), ports / 784, atol=1e-12)  # every pixel counts equally
        np.testing.assert_allclose(np.linalg.norm(enc.encode(x), axis=1), 1.0, atol=1e-12)
        out = chip.query(x, 1)
        assert out.shape == (1, 5, ports) and np.all(np.isfinite(out)) and np.all(out >= 0)


def test_pooling_28x28_onto_16_ports_averages_7x7_blocks():
    enc = ImageEncoder(image_shape=(28, 28), n_ports=16, method="pool")
    image = np.zeros((28, 28))
    image[7:14, 21:28] = 1.0  # block (row 1, col 3) -> port 1 * 4 + 3
    a = enc.encode(image.reshape(784))
    np.testing.assert_allclose(np.abs(a), np.eye(16)[7], atol=1e-12)


def test_cnn_trains_on_28x28_idx_through_the_cli(tmp_path):
    _mnist_28(tmp_path / "mnist", gz=False, n_train=100)  # 15 validation samples: one or more per class
    out = tmp_path / "run"
    args = ["train", "--model", "cnn", "--dataset", f"idx:{tmp_path / 'mnist'}", "--out", str(out),
            "--epochs", "2", "--batch-size", "16", "--no-progress"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["model"] == "cnn" and 0.0 <= m["test_accuracy"] <= 1.0


# ----------------------------------------------------------------- too-narrow prototype layers


def test_too_narrow_layer_names_width_and_class_count():
    infos = [LayerInfo(n_params=10, out_shape=(16,)), LayerInfo(n_params=10, out_shape=(8,))]
    with pytest.raises(UserInputError, match=r"^layer 1 has width 8, but simplex prototypes for 10 classes "
                                             r"need width >= 9$"):
        build_objectives(infos, 10)
    with pytest.raises(UserInputError, match="layer 0 has width 16, but onehot prototypes for 20 classes need width >= 20"):
        build_objectives(infos, 20, prototypes="onehot")
    assert len(build_objectives(infos, 9)) == 2  # 8 wide fits a 9-class simplex
    assert len(build_objectives(infos, 0)) == 2  # regression needs one output


def test_too_narrow_projection_names_proj_dim():
    infos = [LayerInfo(n_params=10, out_shape=(4, 6, 6))]
    with pytest.raises(UserInputError, match=r"layer 0's projection \(proj_dim\) has width 5, but simplex prototypes "
                                             r"for 10 classes need width >= 9"):
        build_objectives(infos, 10, proj_dim=5)
    assert build_objectives(infos, 10, proj_dim=9)[0].prototypes.shape == (10, 9)


def test_cli_too_narrow_hidden_layer_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--hidden", "8", "--epochs", "1", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert _one_error_line(err), err
    assert "layer 0 has width 8" in err and "10 classes" in err and "width >= 9" in err
    assert not out.exists()
