"""Datasets as seeded, standardized train/val/test splits, all from local sources (never downloads).

Names accepted by :func:`load_dataset`:

- ``"digits"`` (8x8 images, 10 classes), ``"iris"``, ``"wine"``: bundled with scikit-learn;
  seeded stratified train/val/test split.
- ``"f1"``, ``"f2"``: synthetic 2-D regression, inputs uniform in [-1, 1]^2 (seeded), noise-free:

  * f1(x, y) = sin(pi x) cos(pi y)  (one period of a saddle-like wave; range [-1, 1]);
  * f2(x, y) = exp(-(x^2 + y^2) / 0.5) cos(2 pi x y)  (Gaussian bump with a saddle ripple; range ~[-0.16, 1]).
- ``"mnist1d"``: MNIST-1D (the ``mnist1d`` package), 40 features, 10 classes, generated offline from its
  digit templates with ``seed`` (``n_samples``, default 4000, a multiple of 10: equal counts per class);
  seeded stratified train/val/test split. A harder benchmark where depth matters.
- ``"idx:DIR"``: MNIST / Fashion-MNIST from a directory with the four standard IDX files
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each optionally ``.gz``); its own test set, validation carved from train.
- ``"npz:FILE"`` or a bare path ending ``.npz``: arrays ``x_train, y_train, x_test, y_test``
  (e.g. Keras' ``mnist.npz``); treated like the IDX case.
"""

from __future__ import annotations

import gzip
import math
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserInputError
from .validation import check_int

BUILTIN_DATASETS = ("digits", "iris", "wine", "f1", "f2", "mnist1d")
DATASET_NAMES = BUILTIN_DATASETS + ("idx:PATH", "npz:PATH", "PATH.npz")
STD_FLOOR = 1e-8
DEFAULT_SAMPLES = {"f1": 2000, "f2": 2000, "mnist1d": 4000}
MNIST1D_CLASSES = 10

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/val/test split. X arrays are (N, n_features) float64 (images flattened C-order);
    y is int64 labels (classification) or float64 targets (regression). Arrays are read-only."""

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    feature_shape: tuple[int, ...]
    target_range: tuple[float, float] | None = None
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def _unit_range(self) -> tuple[float, float]:
        if self.task != "regression" or self.target_range is None:
            raise ValueError(f"unit target mapping is only defined for regression, not {self.task!r} ({self.name})")
        lo, hi = self.target_range
        return lo, (hi - lo if hi > lo else 1.0)

    def targets_to_unit(self, y: np.ndarray) -> np.ndarray:
        """Map regression targets affinely to [-1, 1] using the train range (val/test may fall slightly outside)."""
        lo, span = self._unit_range()
        return 2.0 * (np.asarray(y, dtype=float) - lo) / span - 1.0

    def targets_from_unit(self, u: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`targets_to_unit`."""
        lo, span = self._unit_range()
        return (np.asarray(u, dtype=float) + 1.0) * 0.5 * span + lo

    def summary(self) -> dict[str, Any]:
        """Small JSON-friendly description (for logs and run records)."""
        return {
            "name": self.name,
            "task": self.task,
            "n_classes": self.n_classes,
            "feature_shape": list(self.feature_shape),
            "sizes": self.sizes,
            "target_range": None if self.target_range is None else list(self.target_range),
            "standardized": self.feature_mean is not None,
        }


def load_dataset(
    name: str = "digits",
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    standardize: bool = True,
    n_samples: int | None = None,
    max_train: int | None = None,
) -> Dataset:
    """Load a dataset by name (see module docstring) as a seeded split.

    ``val_fraction`` / ``test_fraction`` are fractions of all samples (for the
    IDX/npz sets ``test_fraction`` is unused and ``val_fraction`` is a fraction
    of the original training set). ``standardize`` z-scores features with
    train statistics (features whose train std is below 1e-8 are only
    centred); ``standardize=False`` keeps raw features but scales images to
    [0, 1]. ``n_samples`` sizes the generated sets (default 2000 for f1/f2,
    4000 for mnist1d). ``max_train`` caps the training split (seeded,
    stratified subsample; val/test unchanged).
    """
    if not isinstance(name, (str, os.PathLike)):
        raise UserInputError(f"dataset name must be a string, got {name!r}")
    name_str = os.fspath(name)
    seed = check_int(seed, "seed", minimum=0)
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1.0:
        raise UserInputError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", minimum=2)
    if max_train is not None:
        max_train = check_int(max_train, "max_train", minimum=1)
    if not isinstance(standardize, (bool, np.bool_)):
        raise UserInputError(f"standardize must be a bool, got {standardize!r}")

    key = name_str.strip().lower()
    rng = np.random.default_rng(seed)
    n_samples = DEFAULT_SAMPLES.get(key, 0) if n_samples is None else n_samples
    if key in ("digits", "iris", "wine"):
        X, y, feature_shape, image_max = _load_sklearn(key)
        splits = _split_three(y, val_fraction, test_fraction, rng, stratify=True)
        parts = {k: (X[i], y[i]) for k, i in splits.items()}
        task, label = "classification", key
    elif key in ("f1", "f2"):
        X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
        y = _SYNTHETIC[key](X[:, 0], X[:, 1])
        splits = _split_three(y, val_fraction, test_fraction, rng, stratify=False)
        parts = {k: (X[i], y[i]) for k, i in splits.items()}
        feature_shape, image_max, task, label = (2,), None, "regression", key
    elif key == "mnist1d":
        X, y = _generate_mnist1d(n_samples, seed)
        splits = _split_three(y, val_fraction, test_fraction, rng, stratify=True)
        parts = {k: (X[i], y[i]) for k, i in splits.items()}
        feature_shape, image_max, task, label = (X.shape[1],), None, "classification", key
    else:
        kind, path = _parse_path_name(name_str)
        raw = _load_idx_dir(path) if kind == "idx" else _load_npz(path)
        label = f"{kind}:{path}"
        X_tr, y_tr, X_te, y_te, feature_shape, image_max = _check_image_arrays(raw, label)
        idx = _split_indices(y_tr, val_fraction, rng, stratify=True)
        parts = {
            "train": (X_tr[idx[0]], y_tr[idx[0]]),
            "val": (X_tr[idx[1]], y_tr[idx[1]]),
            "test": (X_te, y_te),
        }
        task = "classification"

    if max_train is not None and max_train < len(parts["train"][1]):
        Xt, yt = parts["train"]
        keep = _subsample(yt, max_train, rng, stratify=task == "classification")
        parts["train"] = (Xt[keep], yt[keep])

    return _finish(label, task, parts, feature_shape, image_max, standardize)


def _f1(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * x) * np.cos(np.pi * y)


def _f2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.exp(-(x**2 + y**2) / 0.5) * np.cos(2.0 * np.pi * x * y)


_SYNTHETIC = {"f1": _f1, "f2": _f2}


def _generate_mnist1d(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D samples from ``mnist1d.make_dataset`` (templates, no download); the global RNGs it seeds are restored."""
    from mnist1d.data import get_dataset_args, make_dataset

    if n_samples % MNIST1D_CLASSES:
        raise UserInputError(f"n_samples for mnist1d must be a multiple of {MNIST1D_CLASSES} "
                             f"(equal samples per class), got {n_samples}")
    if seed >= 2**32:
        raise UserInputError(f"seed for mnist1d must be below 2**32, got {seed}")
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = n_samples, seed, 1.0
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        generated = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return np.asarray(generated["x"], dtype=float), np.asarray(generated["y"], dtype=np.int64)


def _check_fraction(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be a number in [0, 1), got {value!r}") from None
    if isinstance(value, bool) or not (0.0 <= v < 1.0):
        raise UserInputError(f"{name} must be a number in [0, 1), got {value!r}")
    return v


def _load_sklearn(key: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], float | None]:
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "iris": datasets.load_iris, "wine": datasets.load_wine}[key]
    bunch = loader()
    X = np.asarray(bunch.data, dtype=float)
    y = np.asarray(bunch.target, dtype=np.int64)
    if key == "digits":
        return X, y, (8, 8), 16.0
    return X, y, (X.shape[1],), None


def _parse_path_name(name: str) -> tuple[str, Path]:
    low = name.lower()
    if low.startswith("idx:"):
        kind, raw = "idx", name[4:]
    elif low.startswith("npz:"):
        kind, raw = "npz", name[4:]
    elif low.endswith(".npz"):
        kind, raw = "npz", name
    else:
        raise UserInputError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")
    if not raw.strip():
        raise UserInputError(f"dataset {name!r} names no path")
    path = Path(raw).expanduser()
    if kind == "idx" and not path.is_dir():
        raise FileNotFoundError(f"IDX dataset directory not found: {str(path)!r}")
    if kind == "npz" and not path.is_file():
        raise FileNotFoundError(f"npz dataset file not found: {str(path)!r}")
    return kind, path


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one IDX file (optionally gzip-compressed): magic 0x0000, dtype code, ndim, big-endian uint32 dims, data."""
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UserInputError(f"malformed IDX file {str(path)!r}: bad gzip stream ({exc})") from None
    if len(raw) < 4:
        raise UserInputError(f"malformed IDX file {str(path)!r}: only {len(raw)} bytes")
    if raw[0] != 0 or raw[1] != 0:
        raise UserInputError(f"malformed IDX file {str(path)!r}: magic number must start with two zero bytes, got {raw[:4].hex()}")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise UserInputError(f"malformed IDX file {str(path)!r}: unknown dtype code 0x{code:02x}")
    if ndim == 0:
        raise UserInputError(f"malformed IDX file {str(path)!r}: zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserInputError(f"malformed IDX file {str(path)!r}: truncated header ({ndim} dims)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - header != expected:
        raise UserInputError(
            f"malformed IDX file {str(path)!r}: dims {dims} of {dtype.name} need {expected} data bytes, "
            f"found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx_file(directory: Path, stem: str) -> Path:
    alt = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        p = directory / name
        if p.is_file():
            return p
    raise FileNotFoundError(f"IDX file {stem!r} (or {stem}.gz) not found in {str(directory)!r}")


def _load_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    return {k: read_idx(_find_idx_file(directory, stem)) for k, stem in IDX_FILES.items()}


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            files = sorted(f.files)
            arrays = {k: np.asarray(f[k]) for k in IDX_FILES if k in files}
    except (OSError, EOFError, ValueError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise UserInputError(f"cannot read npz file {str(path)!r}: {exc}") from None
    missing = [k for k in IDX_FILES if k not in arrays]
    if missing:
        raise UserInputError(f"npz file {str(path)!r} lacks arrays {missing}; has {files}")
    return arrays


def _check_image_arrays(raw: dict[str, np.ndarray], label: str):
    """Validate train/test image+label arrays; return flat float X, int y, feature shape, pixel scale."""
    out = []
    feature_shape = None
    for part in ("train", "test"):
        x, y = raw[f"x_{part}"], raw[f"y_{part}"]
        if x.ndim < 2:
            raise UserInputError(f"{label}: x_{part} must have a sample axis and features, got shape {x.shape}")
        if y.ndim != 1:
            raise UserInputError(f"{label}: y_{part} must be 1-D labels, got shape {y.shape}")
        if len(x) != len(y):
            raise UserInputError(f"{label}: x_{part} has {len(x)} samples but y_{part} has {len(y)}")
        if len(x) == 0:
            raise UserInputError(f"{label}: {part} set is empty")
        if feature_shape is None:
            feature_shape = tuple(int(s) for s in x.shape[1:])
        elif tuple(x.shape[1:]) != feature_shape:
            raise UserInputError(f"{label}: x_test samples have shape {x.shape[1:]}, x_train {feature_shape}")
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise UserInputError(f"{label}: x_{part} must be real numbers, got dtype {x.dtype}")
        xf = x.reshape(len(x), -1).astype(float)
        if not np.all(np.isfinite(xf)):
            raise UserInputError(f"{label}: x_{part} contains NaN or inf")
        if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
            raise UserInputError(f"{label}: y_{part} must be integer labels, got dtype {y.dtype}")
        yf = y.astype(float)
        if not np.all(np.isfinite(yf)) or np.any(yf != np.round(yf)) or np.any(yf < 0):
            raise UserInputError(f"{label}: y_{part} must be non-negative integer labels")
        out.append((xf, y.astype(np.int64)))
    (X_tr, y_tr), (X_te, y_te) = out
    hi = max(X_tr.max(), X_te.max())
    lo = min(X_tr.min(), X_te.min())
    image_max = 255.0 if (hi > 1.0 and lo >= 0.0 and hi <= 255.0) else None
    return X_tr, y_tr, X_te, y_te, feature_shape, image_max


def _split_indices(y: np.ndarray, fraction: float, rng: np.random.Generator, stratify: bool):
    """Indices (rest, held) with round(fraction * N) held out, stratified by class when asked."""
    n = len(y)
    n_held = int(round(fraction * n))
    perm = rng.permutation(n)
    if n_held == 0:
        return np.sort(perm), np.array([], dtype=np.intp)
    if n_held >= n:
        raise UserInputError(f"fraction {fraction} of {n} samples leaves no training data")
    if not stratify:
        return np.sort(perm[n_held:]), np.sort(perm[:n_held])
    from sklearn.model_selection import train_test_split

    try:
        rest, held = train_test_split(
            np.arange(n), test_size=n_held, stratify=y, random_state=int(rng.integers(2**31 - 1))
        )
    except ValueError as exc:
        raise UserInputError(
            f"cannot stratify a split of {n_held} of {n} samples over {len(np.unique(y))} classes: {exc}"
        ) from None
    return np.sort(rest), np.sort(held)


def _split_three(y: np.ndarray, val_fraction: float, test_fraction: float, rng, stratify: bool):
    n = len(y)
    rest, test = _split_indices(y, test_fraction, rng, stratify)
    n_val = int(round(val_fraction * n))
    rel = n_val / len(rest) if len(rest) else 0.0
    r_train, r_val = _split_indices(y[rest], rel, rng, stratify)
    if len(r_train) == 0:
        raise UserInputError("the split leaves no training samples")
    return {"train": rest[r_train], "val": rest[r_val], "test": test}


def _subsample(y: np.ndarray, k: int, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    keep, _ = _split_indices(y, 1.0 - k / len(y), rng, stratify)
    return keep


def _finish(label, task, parts, feature_shape, image_max, standardize) -> Dataset:
    arrays = {}
    for k, (X, y) in parts.items():
        X = np.asarray(X, dtype=float).reshape(len(X), math.prod(feature_shape))
        if image_max is not None:
            X = X / image_max
        arrays[k] = (X, np.asarray(y, dtype=np.int64 if task == "classification" else float))
    for k, (X, y) in arrays.items():
        if not (np.all(np.isfinite(X)) and (task == "classification" or np.all(np.isfinite(y)))):
            raise UserInputError(f"{label}: {k} split contains NaN or inf")
    mean = std = None
    if standardize:
        X_tr = arrays["train"][0]
        mean = X_tr.mean(axis=0)
        std = X_tr.std(axis=0)
        std = np.where(std < STD_FLOOR, 1.0, std)
        arrays = {k: ((X - mean) / std, y) for k, (X, y) in arrays.items()}
    y_tr = arrays["train"][1]
    if task == "classification":
        all_y = np.concatenate([a[1] for a in arrays.values()])
        n_classes = int(all_y.max()) + 1
        target_range = None
    else:
        n_classes = 0
        target_range = (float(y_tr.min()), float(y_tr.max()))
    for X, y in arrays.values():
        X.flags.writeable = False
        y.flags.writeable = False
    if mean is not None:
        mean.flags.writeable = False
        std.flags.writeable = False
    return Dataset(
        name=label,
        task=task,
        X_train=arrays["train"][0],
        y_train=arrays["train"][1],
        X_val=arrays["val"][0],
        y_val=arrays["val"][1],
        X_test=arrays["test"][0],
        y_test=arrays["test"][1],
        n_classes=n_classes,
        feature_shape=tuple(feature_shape),
        target_range=target_range,
        feature_mean=mean,
        feature_std=std,
    )
