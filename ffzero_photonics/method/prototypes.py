"""Fixed per-layer targets: simplex prototypes, one-hot port groups, regression directions.

Prototypes are drawn once (seeded) and never trained. All returned arrays have
unit-norm rows.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserInputError

PROTOTYPE_KINDS = ("simplex", "onehot")


def random_orthonormal(n_rows: int, n_cols: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random (n_rows, n_cols) matrix with orthonormal columns (n_rows >= n_cols)."""
    q, r = np.linalg.qr(rng.standard_normal((n_rows, n_cols)))
    return q * np.sign(np.diag(r))


def simplex_prototypes(n_classes: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Vertices of a regular simplex (pairwise cosine -1/(C-1)), randomly rotated into ``dim``."""
    if n_classes < 2:
        raise UserInputError(f"prototypes need at least 2 classes, got {n_classes}")
    if dim < n_classes - 1:
        raise UserInputError(
            f"a regular simplex of {n_classes} classes needs an output dimension >= {n_classes - 1}, got {dim}"
        )
    centered = np.eye(n_classes) - 1.0 / n_classes
    basis = np.linalg.svd(centered)[0][:, : n_classes - 1]
    coords = centered @ basis
    rotated = coords @ random_orthonormal(dim, n_classes - 1, rng).T
    return rotated / np.linalg.norm(rotated, axis=1, keepdims=True)


def onehot_prototypes(n_classes: int, dim: int) -> np.ndarray:
    """Non-negative targets for power readouts: class c owns ports c, c+C, c+2C, ...

    Ports beyond the last full group of C stay dark for every class.
    """
    if n_classes < 2:
        raise UserInputError(f"prototypes need at least 2 classes, got {n_classes}")
    if dim < n_classes:
        raise UserInputError(f"one-hot prototypes of {n_classes} classes need >= {n_classes} outputs, got {dim}")
    used = (dim // n_classes) * n_classes
    protos = np.zeros((n_classes, dim))
    for port in range(used):
        protos[port % n_classes, port] = 1.0
    return protos / np.linalg.norm(protos, axis=1, keepdims=True)


def regression_prototype(dim: int, rng: np.random.Generator) -> np.ndarray:
    """One random unit direction; the layer predicts cos(h, p) in [-1, 1]."""
    v = rng.standard_normal(dim)
    return (v / np.linalg.norm(v))[None, :]


def min_width(kind: str, n_classes: int) -> int:
    """The narrowest layer output that prototypes of ``kind`` for ``n_classes`` fit (C-1 simplex, C one-hot, 1 regression)."""
    if n_classes == 0:
        return 1
    if kind not in PROTOTYPE_KINDS:
        raise UserInputError(f"unknown prototype kind {kind!r}; choose one of {', '.join(PROTOTYPE_KINDS)}")
    return n_classes - 1 if kind == "simplex" else n_classes


def make_prototypes(
    kind: str, n_classes: int, dim: int, rng: np.random.Generator
) -> np.ndarray:
    """Prototypes by name ("simplex" or "onehot"); n_classes = 0 means regression."""
    if n_classes == 0:
        return regression_prototype(dim, rng)
    if kind == "simplex":
        return simplex_prototypes(n_classes, dim, rng)
    if kind == "onehot":
        return onehot_prototypes(n_classes, dim)
    raise UserInputError(f"unknown prototype kind {kind!r}; choose one of {', '.join(PROTOTYPE_KINDS)}")
