"""Dataset loading: splits, stratification, standardization, regression scaling, IDX/npz loaders, errors."""

import gzip
import struct

import numpy as np
import pytest

from ffzero_photonics.data import IDX_FILES, Dataset, _split_three, load_dataset, read_idx
from ffzero_photonics.errors import UserInputError

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def write_idx(path, arr, gz=False):
    arr = np.asarray(arr)
    header = bytes([0, 0, IDX_CODES[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw = header + arr.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def fake_mnist(n_train=60, n_test=20, shape=(5, 4), n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, size=(n_train,) + shape, dtype=np.uint8),
        "y_train": np.arange(n_train, dtype=np.uint8) % n_classes,
        "x_test": rng.integers(0, 256, size=(n_test,) + shape, dtype=np.uint8),
        "y_test": np.arange(n_test, dtype=np.uint8) % n_classes,
    }


def write_idx_dir(directory, arrays, gz=False):
    directory.mkdir(exist_ok=True)
    for key, stem in IDX_FILES.items():
        write_idx(directory / (stem + (".gz" if gz else "")), arrays[key], gz=gz)
    return directory


# ----------------------------------------------------------------- small sets


@pytest.mark.parametrize("name, n, n_classes, shape", [
    ("digits", 1797, 10, (8, 8)), ("iris", 150, 3, (4,)), ("wine", 178, 3, (13,)),
])
def test_split_sizes_and_metadata(name, n, n_classes, shape):
    ds = load_dataset(name, seed=0)
    assert isinstance(ds, Dataset) and ds.task == "classification"
    assert ds.n_classes == n_classes and ds.feature_shape == shape
    assert ds.sizes["test"] == round(0.2 * n) and ds.sizes["val"] == round(0.15 * n)
    assert sum(ds.sizes.values()) == n
    assert ds.X_train.shape == (ds.sizes["train"], int(np.prod(shape)))
    assert ds.y_train.dtype == np.int64 and ds.X_train.dtype == np.float64
    assert ds.target_range is None


def test_split_indices_disjoint_and_covering():
    y = np.repeat(np.arange(4), 25)
    parts = _split_three(y, 0.15, 0.2, np.random.default_rng(0), stratify=True)
    all_idx = np.concatenate(list(parts.values()))
    assert len(all_idx) == 100 and len(np.unique(all_idx)) == 100
    assert [len(parts[k]) for k in ("train", "val", "test")] == [65, 15, 20]


def test_splits_disjoint_rows():
    ds = load_dataset("f1", n_samples=500, standardize=False)
    rows = [set(map(tuple, X)) for X in (ds.X_train, ds.X_val, ds.X_test)]
    assert sum(len(r) for r in rows) == 500
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])


def test_regression_sets_default_to_2000_samples():
    default, explicit = load_dataset("f1", seed=2), load_dataset("f1", seed=2, n_samples=2000)
    assert sum(default.sizes.values()) == 2000
    np.testing.assert_array_equal(default.X_train, explicit.X_train)


@pytest.mark.parametrize("name", ["digits", "iris", "wine"])
def test_stratified(name):
    ds = load_dataset(name, seed=3)
    y_all = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    overall = np.bincount(y_all, minlength=ds.n_classes) / len(y_all)
    for y in (ds.y_train, ds.y_val, ds.y_test):
        counts = np.bincount(y, minlength=ds.n_classes)
        assert np.all(np.abs(counts - overall * len(y)) <= 1.0 + 1e-9)


def test_seeded_reproducible():
    a, b, c = load_dataset("wine", seed=1), load_dataset("wine", seed=1), load_dataset("wine", seed=2)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train) or not np.array_equal(a.X_train, c.X_train)
    f, g = load_dataset("f2", seed=4, n_samples=300), load_dataset("f2", seed=4, n_samples=300)
    np.testing.assert_array_equal(f.X_test, g.X_test)


def test_standardization_uses_train_stats():
    raw = load_dataset("wine", seed=0, standardize=False)
    ds = load_dataset("wine", seed=0)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(ds.feature_mean, raw.X_train.mean(axis=0))
    for X, R in ((ds.X_val, raw.X_val), (ds.X_test, raw.X_test)):
        np.testing.assert_allclose(X, (R - ds.feature_mean) / ds.feature_std, atol=1e-12)
    assert not np.allclose(ds.X_test.mean(axis=0), 0.0, atol=1e-3)


def test_digits_constant_pixels_and_raw_scaling():
    ds = load_dataset("digits")
    std = ds.X_train.std(axis=0)
    assert np.all(np.isfinite(ds.X_val)) and np.all(np.isfinite(ds.X_test))
    np.testing.assert_allclose(std[std > 0.5], 1.0, atol=1e-12)
    const = ds.X_train.std(axis=0) == 0
    assert const.any()
    np.testing.assert_array_equal(ds.X_train[:, const], 0.0)
    assert np.abs(ds.X_test).max() < 1e3
    raw = load_dataset("digits", standardize=False)
    assert raw.X_train.min() == 0.0 and raw.X_train.max() == 1.0 and raw.feature_mean is None


def test_arrays_read_only():
    ds = load_dataset("iris")
    with pytest.raises(ValueError):
        ds.X_train[0, 0] = 1.0


def test_max_train():
    ds = load_dataset("digits", max_train=200, seed=0)
    full = load_dataset("digits", seed=0)
    assert ds.sizes["train"] == 200 and ds.sizes["test"] == full.sizes["test"]
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert np.all(np.abs(np.bincount(ds.y_train) - 20) <= 1)


# ----------------------------------------------------------------- regression


@pytest.mark.parametrize("name, f", [
    ("f1", lambda x, y: np.sin(np.pi * x) * np.cos(np.pi * y)),
    ("f2", lambda x, y: np.exp(-(x**2 + y**2) / 0.5) * np.cos(2 * np.pi * x * y)),
])
def test_regression_functions(name, f):
    ds = load_dataset(name, n_samples=400, standardize=False, seed=1)
    assert ds.task == "regression" and ds.n_classes == 0 and ds.feature_shape == (2,)
    assert sum(ds.sizes.values()) == 400 and ds.sizes["test"] == 80 and ds.sizes["val"] == 60
    assert np.all(np.abs(ds.X_train) <= 1.0)
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        np.testing.assert_allclose(y, f(X[:, 0], X[:, 1]), atol=1e-14)
    assert ds.target_range == (ds.y_train.min(), ds.y_train.max())


def test_regression_unit_mapping_round_trip():
    ds = load_dataset("f2", n_samples=300)
    u = ds.targets_to_unit(ds.y_train)
    assert u.min() == pytest.approx(-1.0) and u.max() == pytest.approx(1.0)
    np.testing.assert_allclose(ds.targets_from_unit(u), ds.y_train, atol=1e-12)
    np.testing.assert_allclose(ds.targets_from_unit(ds.targets_to_unit(ds.y_test)), ds.y_test, atol=1e-12)
    np.testing.assert_allclose(ds.targets_to_unit(np.array(ds.target_range)), [-1.0, 1.0])
    with pytest.raises(ValueError, match="regression"):
        load_dataset("iris").targets_to_unit(np.zeros(3))


# ----------------------------------------------------------------- IDX / npz


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    arr = (np.arange(24).reshape(2, 3, 4) - (0 if dtype == np.uint8 else 5)).astype(dtype)
    out = read_idx(write_idx(tmp_path / "a.idx", arr, gz=gz))
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_loader(tmp_path, gz):
    arrays = fake_mnist()
    d = write_idx_dir(tmp_path / "mnist", arrays, gz=gz)
    ds = load_dataset(f"idx:{d}", standardize=False, val_fraction=0.2, seed=0)
    assert ds.feature_shape == (5, 4) and ds.n_classes == 3 and ds.task == "classification"
    assert ds.sizes == {"train": 48, "val": 12, "test": 20}
    np.testing.assert_array_equal(ds.X_test, arrays["x_test"].reshape(20, -1) / 255.0)
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert np.bincount(ds.y_val).tolist() == [4, 4, 4]
    train_rows = {tuple(r) for r in np.concatenate([ds.X_train, ds.X_val])}
    assert train_rows == {tuple(r) for r in arrays["x_train"].reshape(60, -1) / 255.0}
    std = load_dataset(f"idx:{d}", val_fraction=0.2, seed=0)
    np.testing.assert_allclose(std.X_train.mean(axis=0), 0.0, atol=1e-12)
    small = load_dataset(f"idx:{d}", val_fraction=0.2, max_train=9)
    assert small.sizes == {"train": 9, "val": 12, "test": 20}


def test_npz_loader(tmp_path):
    arrays = fake_mnist(n_train=30, n_test=10, shape=(3, 3))
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    for name in (f"npz:{path}", str(path)):
        ds = load_dataset(name, standardize=False, val_fraction=0.1)
        assert ds.sizes == {"train": 27, "val": 3, "test": 10} and ds.feature_shape == (3, 3)
        np.testing.assert_array_equal(ds.X_test, arrays["x_test"].reshape(10, -1) / 255.0)
    flat = tmp_path / "flat.npz"
    np.savez(flat, x_train=np.random.default_rng(0).normal(size=(20, 6)), y_train=np.arange(20) % 2,
             x_test=np.zeros((4, 6)), y_test=np.zeros(4, dtype=int))
    ds = load_dataset(str(flat), standardize=False, val_fraction=0.0)
    assert ds.feature_shape == (6,) and ds.sizes == {"train": 20, "val": 0, "test": 4}
    assert ds.X_train.min() < 0


# ----------------------------------------------------------------- errors


def test_unknown_name_lists_valid():
    with pytest.raises(UserInputError, match=r"unknown dataset 'mnist'.*digits.*iris.*idx:PATH"):
        load_dataset("mnist")


@pytest.mark.parametrize("kwargs, match", [
    ({"val_fraction": -0.1}, "val_fraction must be a number in \\[0, 1\\), got -0.1"),
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"test_fraction": 1.5}, "test_fraction.*1.5"),
    ({"test_fraction": "a"}, "test_fraction"),
    ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction \\+ test_fraction must be < 1"),
    ({"n_samples": 0}, "n_samples must be an integer >= 2, got 0"),
    ({"max_train": 0}, "max_train"),
    ({"seed": -3}, "seed"),
    ({"standardize": "yes"}, "standardize"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("iris", **kwargs)


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_dataset(f"idx:{tmp_path / 'nope'}")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_dataset(str(tmp_path / "missing.npz"))
    arrays = fake_mnist()
    d = write_idx_dir(tmp_path / "partial", arrays)
    (d / IDX_FILES["y_test"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_dataset(f"idx:{d}")


@pytest.mark.parametrize("corrupt, match", [
    (lambda raw: b"\x01" + raw[1:], "magic"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "dtype code 0x07"),
    (lambda raw: raw[:-3], "need 1200 data bytes, found 1197"),
    (lambda raw: raw + b"\x00", "found 1201"),
    (lambda raw: raw[:3], "only 3 bytes"),
    (lambda raw: raw[:10], "truncated header"),
    (lambda raw: b"\x1f\x8b" + raw, "gzip"),
])
def test_malformed_idx(tmp_path, corrupt, match):
    arrays = fake_mnist()
    d = write_idx_dir(tmp_path / "bad", arrays)
    f = d / IDX_FILES["x_train"]
    f.write_bytes(corrupt(f.read_bytes()))
    with pytest.raises(UserInputError, match=match):
        load_dataset(f"idx:{d}")


def test_idx_mismatched_counts(tmp_path):
    arrays = fake_mnist()
    arrays["y_train"] = arrays["y_train"][:-1]
    d = write_idx_dir(tmp_path / "mm", arrays)
    with pytest.raises(ValueError, match="x_train has 60 samples but y_train has 59"):
        load_dataset(f"idx:{d}")


@pytest.mark.parametrize("edit, match", [
    (lambda a: a.update(x_train=np.where(np.arange(30)[:, None, None] == 3, np.nan, a["x_train"] * 1.0)), "NaN or inf"),
    (lambda a: a.update(x_test=np.full((10, 3, 3), np.inf)), "NaN or inf"),
    (lambda a: a.update(y_test=a["y_test"][:5]), "x_test has 10 samples but y_test has 5"),
    (lambda a: a.update(y_train=a["y_train"] + 0.5), "integer labels"),
    (lambda a: a.update(x_test=np.zeros((10, 4, 4))), "x_test samples have shape"),
    (lambda a: a.pop("y_test"), "lacks arrays \\['y_test'\\]"),
])
def test_npz_errors(tmp_path, edit, match):
    arrays = fake_mnist(n_train=30, n_test=10, shape=(3, 3))
    edit(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        load_dataset(f"npz:{path}")


def test_not_an_npz(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="junk.npz"):
        load_dataset(str(path))
