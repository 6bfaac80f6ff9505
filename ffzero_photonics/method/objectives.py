"""Per-layer local objectives: prototypes, an optional fixed projection, and the loss.

The trainer builds one objective per layer from the layer's public ``LayerInfo``;
nothing here knows what model produced the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..blackbox import LayerInfo
from ..errors import UserInputError
from .losses import CLASS_LOSSES
from .prototypes import make_prototypes, min_width


@dataclass(frozen=True)
class LayerObjective:
    """Scores and loss of one layer's measured outputs against its fixed prototypes."""

    prototypes: np.ndarray  # (C, D') unit rows
    projection: np.ndarray | None  # (D, D') for feature-map outputs, else None
    loss: str
    margin: float = 0.3
    temperature: float = 0.1

    def features(self, xp, out, n_lead: int):
        """Flatten (..., B, *out_shape) to (..., B, D) and project if needed."""
        h = out.reshape(out.shape[: n_lead + 1] + (-1,))
        return h if self.projection is None else h @ self.projection

    def losses(self, xp, out, targets, n_lead: int = 1):
        """One loss per leading candidate index of ``out``."""
        from .losses import local_loss

        protos = xp.asarray(self.prototypes)
        return local_loss(xp, self.loss, self.features(xp, out, n_lead), protos, targets, self.margin,
                          self.temperature)

    def scores(self, out) -> np.ndarray:
        """cos(h, p_c) of committed outputs (B, *out_shape) -> (B, C)."""
        from .losses import cosine_scores

        return cosine_scores(np, self.features(np, out, 0), self.prototypes)


def resolve_loss(loss: str, info: LayerInfo, regression: bool) -> str:
    """'auto' picks mse for regression, cosine for power readouts, hinge otherwise."""
    if loss != "auto":
        return loss
    if regression:
        return "mse"
    return "cosine" if info.readout == "power" else "hinge"


def resolve_prototypes(kind: str, info: LayerInfo) -> str:
    """'auto' picks non-negative one-hot port groups for power readouts, simplex otherwise."""
    if kind != "auto":
        return kind
    return "onehot" if info.readout == "power" else "simplex"


def build_objectives(
    infos: list[LayerInfo],
    n_classes: int,
    *,
    loss: str = "auto",
    prototypes: str = "auto",
    proj_dim: int = 10,
    margin: float = 0.3,
    temperature: float = 0.1,
    seed: int = 0,
) -> list[LayerObjective]:
    """One objective per layer, drawn once from ``seed`` and never trained.

    A layer (or, for feature maps, ``proj_dim``) narrower than its prototypes need is a UserInputError.
    """
    if n_classes == 0 and loss in CLASS_LOSSES:
        raise UserInputError(f"loss {loss!r} scores classes; a regression data set takes 'mse' (or 'auto')")
    if n_classes > 0 and loss == "mse":
        raise UserInputError(f"loss 'mse' is for regression targets; a {n_classes}-class data set takes "
                             f"{', '.join(repr(n) for n in CLASS_LOSSES)} or 'auto'")
    _check_widths(infos, n_classes, prototypes, proj_dim)
    rng = np.random.default_rng([seed, 7919])
    objectives = []
    for info in infos:
        projection = None
        dim = info.out_dim
        if len(info.out_shape) > 1:
            projection = rng.standard_normal((dim, proj_dim)) / np.sqrt(dim)
            dim = proj_dim
        kind = resolve_prototypes(prototypes, info)
        protos = make_prototypes(kind, n_classes, dim, rng)
        objectives.append(
            LayerObjective(protos, projection, resolve_loss(loss, info, n_classes == 0), margin,
                           temperature)
        )
    return objectives


def _check_widths(infos: list[LayerInfo], n_classes: int, prototypes: str, proj_dim: int) -> None:
    for layer, info in enumerate(infos):
        kind = resolve_prototypes(prototypes, info)
        need = min_width(kind, n_classes)
        projected = len(info.out_shape) > 1
        width = proj_dim if projected else info.out_dim
        if width < need:
            what = f"layer {layer}'s projection (proj_dim)" if projected else f"layer {layer}"
            raise UserInputError(
                f"{what} has width {width}, but {kind} prototypes for {n_classes} classes need width >= {need}"
            )
