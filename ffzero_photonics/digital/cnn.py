"""Digital convolutional net behind the :class:`~ffzero_photonics.blackbox.LayeredBlackBox` protocol.

Each layer is a valid-padding conv followed by the activation; its measured
output is the feature map (C_out, H', W'), or (C_out, L') for a sequence
(a 1-D ``image_shape``). Inputs arrive flat (B, H*W) or (B, L), one channel.
Mapping feature maps to class prototypes is the trainer's job.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.digital.layers import (
    Conv1D,
    Conv2D,
    check_activation,
    check_positive_int,
    check_seed,
)
from ffzero_photonics.digital.mlp import SequentialNet


class CNN(SequentialNet):
    """Stack of conv layers (1 input channel, valid padding): layer l has ``channels[l]`` output maps.

    ``image_shape`` (height, width) gives 2-D convolutions, (length,) 1-D ones over a sequence.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (8, 8),
        channels: Sequence[int] = (4, 4),
        kernel: int = 3,
        stride: int = 1,
        activation: str = "tanh",
        seed: int = 0,
    ):
        if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__") \
                or len(image_shape) not in (1, 2):
            raise UserInputError(f"image_shape must be (height, width) or (length,), got {image_shape!r}")
        self.image_shape = tuple(check_positive_int(s, f"image_shape[{i}]") for i, s in enumerate(image_shape))
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or len(channels) < 1:
            raise UserInputError(f"channels must be a non-empty sequence of positive integers, got {channels!r}")
        self.channels = tuple(check_positive_int(c, f"channels[{i}]") for i, c in enumerate(channels))
        self.kernel = check_positive_int(kernel, "kernel")
        self.stride = check_positive_int(stride, "stride")
        self.activation = check_activation(activation)
        self.seed = check_seed(seed)
        self._n_inputs = math.prod(self.image_shape)
        conv = Conv1D if len(self.image_shape) == 1 else Conv2D
        layers: list[Conv2D] = []
        shape = (1, *self.image_shape)
        for l, c_out in enumerate(self.channels):
            if any(self.kernel > s for s in shape[1:]):
                raise UserInputError(
                    f"kernel {self.kernel} does not fit layer {l}: its input has spatial size "
                    f"{'x'.join(map(str, shape[1:]))} (image_shape={self.image_shape}, stride={self.stride})"
                )
            layers.append(conv(shape, c_out, self.kernel, self.stride))
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
