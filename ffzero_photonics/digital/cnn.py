"""Digital convolutional net behind the :class:`~ffzero_photonics.blackbox.LayeredBlackBox` protocol.

Each layer is a valid-padding conv followed by the activation; its measured
output is the feature map (C_out, H', W'). Inputs arrive flat (B, H*W), one
channel. Mapping feature maps to class prototypes is the trainer's job.
"""

from __future__ import annotations

from typing import Any, Sequence

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.digital.layers import (
    Conv2D,
    check_activation,
    check_positive_int,
    check_seed,
)
from ffzero_photonics.digital.mlp import SequentialNet


class CNN(SequentialNet):
    """Stack of conv layers (1 input channel, valid padding): layer l has ``channels[l]`` output maps."""

    def __init__(
        self,
        image_shape: Sequence[int] = (8, 8),
        channels: Sequence[int] = (4, 4),
        kernel: int = 3,
        stride: int = 1,
        activation: str = "tanh",
        seed: int = 0,
    ):
        if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__") or len(image_shape) != 2:
            raise UserInputError(f"image_shape must be (height, width), got {image_shape!r}")
        self.image_shape = tuple(check_positive_int(s, f"image_shape[{i}]") for i, s in enumerate(image_shape))
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or len(channels) < 1:
            raise UserInputError(f"channels must be a non-empty sequence of positive integers, got {channels!r}")
        self.channels = tuple(check_positive_int(c, f"channels[{i}]") for i, c in enumerate(channels))
        self.kernel = check_positive_int(kernel, "kernel")
        self.stride = check_positive_int(stride, "stride")
        self.activation = check_activation(activation)
        self.seed = check_seed(seed)
        height, width = self.image_shape
        self._n_inputs = height * width
        layers: list[Conv2D] = []
        shape = (1, height, width)
        for l, c_out in enumerate(self.channels):
            if self.kernel > shape[1] or self.kernel > shape[2]:
                raise UserInputError(
                    f"kernel {self.kernel} does not fit layer {l}: its input has spatial size "
                    f"{shape[1]}x{shape[2]} (image_shape={self.image_shape}, stride={self.stride})"
                )
            layers.append(Conv2D(shape, c_out, self.kernel, self.stride))
            shape = layers[-1].out_shape
        self._layers = layers
        self._init_params()

    def to_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly): ``CNN(**model.to_config())`` rebuilds the model."""
        return {
            "image_shape": list(self.image_shape),
            "channels": list(self.channels),
            "kernel": self.kernel,
            "stride": self.stride,
            "activation": self.activation,
            "seed": self.seed,
        }
