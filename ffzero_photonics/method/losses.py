"""Local losses on a layer's measured output, written once for numpy and jax.numpy.

Every function takes ``xp`` (numpy or jax.numpy), measured outputs ``h`` of shape
(..., B, D) and unit prototypes (C, D); it returns one loss per leading index, so a
whole stack of candidate settings is scored in one call.
"""

from __future__ import annotations

CLASS_LOSSES = ("hinge", "cosine", "ce")  # score classes; "mse" scores a regression target
LOSSES = CLASS_LOSSES + ("mse",)


def cosine_scores(xp, h, prototypes):
    """cos(h_b, p_c) for every sample and prototype: (..., B, C).

    h is first scaled by the power of two nearest its largest entry (exact, so cosines do not change by a bit),
    so outputs of 1e-18, as after two weak activations, keep their direction in float32 instead of underflowing
    in h * h.
    """
    _, exponent = xp.frexp(xp.max(xp.abs(h), axis=-1, keepdims=True))
    h = xp.ldexp(h, -exponent)
    norm = xp.sqrt(xp.sum(h * h, axis=-1, keepdims=True) + 1e-24)
    return (h / norm) @ prototypes.T


def hinge_loss(xp, scores, onehot, margin=0.3):
    """Multi-class hinge on cosines: sum_{j != y} max(0, m + s_j - s_y), averaged over samples."""
    s_true = xp.sum(scores * onehot, axis=-1, keepdims=True)
    violations = xp.maximum(0.0, margin + scores - s_true) * (1.0 - onehot)
    return xp.mean(xp.sum(violations, axis=-1), axis=-1)


def cosine_loss(xp, scores, onehot):
    """mean(1 - cos(h, p_y)): the photonic readout loss on normalized powers."""
    return xp.mean(1.0 - xp.sum(scores * onehot, axis=-1), axis=-1)


def ce_loss(xp, scores, onehot, temperature=0.1):
    """Softmax cross-entropy of cosines / T: every wrong class pushed down by its softmax weight."""
    z = scores / temperature
    z = z - xp.max(z, axis=-1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))
    return xp.mean(-xp.sum(log_p * onehot, axis=-1), axis=-1)


def mse_loss(xp, scores, targets):
    """Regression: prediction cos(h, p) against targets scaled to [-1, 1]."""
    return xp.mean((scores[..., 0] - targets) ** 2, axis=-1)


def local_loss(xp, name, h, prototypes, targets, margin=0.3, temperature=0.1):
    """Loss ``name`` of outputs h (..., B, D); targets are one-hot (B, C) or regression values (B,)."""
    scores = cosine_scores(xp, h, prototypes)
    if name == "hinge":
        return hinge_loss(xp, scores, targets, margin)
    if name == "cosine":
        return cosine_loss(xp, scores, targets)
    if name == "ce":
        return ce_loss(xp, scores, targets, temperature)
    if name == "mse":
        return mse_loss(xp, scores, targets)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
