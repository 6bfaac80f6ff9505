"""The registry of concrete models: the only module besides the CLI that knows them all."""

from __future__ import annotations

from typing import Any

MODEL_KINDS = ("mlp", "cnn", "photonic")


def output_width(n_classes: int) -> int:
    """Width of a digital network's last layer: one unit per class, 16 for regression."""
    return n_classes if n_classes > 0 else 16


def build_model(kind: str, data: Any, *, seed: int = 0, **options: Any):
    """A fresh model of ``kind`` sized for ``data`` (features, classes, image shape)."""
    if kind == "mlp":
        from .digital.mlp import MLP

        hidden = tuple(options.get("hidden", (100, 100, 100)))
        widths = (data.X_train.shape[1], *hidden, output_width(data.n_classes))
        return MLP(widths=widths, activation=options.get("activation", "tanh"), seed=seed)
    if kind == "cnn":
        from .digital.cnn import CNN

        if len(data.feature_shape) != 2:
            raise ValueError(f"the cnn model needs image data; dataset {data.name!r} has feature shape {data.feature_shape}")
        return CNN(
            image_shape=tuple(data.feature_shape),
            channels=tuple(options.get("channels", (4, 4))),
            kernel=int(options.get("kernel", 3)),
            activation=options.get("activation", "tanh"),
            seed=seed,
        )
    if kind == "photonic":
        if options.get("chip"):
            from .lab.client import RemoteChip

            extra = sorted(k for k in options if k != "chip")
            if extra:
                raise ValueError(f"a remote chip is configured where it is served; drop {', '.join('--' + k for k in extra)}")
            return RemoteChip(options["chip"])
        from .photonic.chip import PhotonicChip

        return PhotonicChip.for_data(data, seed=seed, **options)
    raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def model_from_config(kind: str, config: dict[str, Any]):
    """Rebuild a model from its ``to_config()`` dict (parameters are loaded separately)."""
    if kind == "mlp":
        from .digital.mlp import MLP

        return MLP(**config)
    if kind == "cnn":
        from .digital.cnn import CNN

        return CNN(**config)
    if kind == "photonic":
        if "url" in config:
            from .lab.client import RemoteChip

            return RemoteChip(config["url"])
        from .photonic.chip import PhotonicChip

        return PhotonicChip.from_config(config)
    raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
