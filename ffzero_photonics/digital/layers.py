"""Layer math written once for numpy and jax.numpy (pass the array module as ``xp``).

Every layer works on flat per-sample vectors: a conv layer's input and output
are (C, H, W) maps raveled in C-order, so layers chain without reshapes. Each
layer has an unbatched form (one parameter vector, inputs (B, d)) and a
candidate-batched form (parameters (M, P), inputs (B, d) or (M|1, B, d),
outputs (M, B, d_out)) computed by a single broadcast matmul (the einsum
``mbi,mio->mbo``, which numpy's matmul runs on BLAS and einsum does not),
never a Python loop over candidates.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..errors import UserInputError
from ..validation import check_int

ACTIVATIONS = ("tanh", "relu", "leaky_relu", "gelu", "sigmoid", "none")
LEAKY_SLOPE = 0.01
_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu(z, xp):
    return 0.5 * z * (1.0 + xp.tanh(_GELU_C * (z + 0.044715 * z * z * z)))


_ACT_FUNCS: dict[str, Callable[[Any, Any], Any]] = {
    "tanh": lambda z, xp: xp.tanh(z),
    "relu": lambda z, xp: xp.maximum(z, 0.0),
    "leaky_relu": lambda z, xp: xp.where(z > 0, z, LEAKY_SLOPE * z),
    "gelu": _gelu,
    # 0.5 (1 + tanh(z/2)) is the logistic function without exp overflow.
    "sigmoid": lambda z, xp: 0.5 * (1.0 + xp.tanh(0.5 * z)),
    "none": lambda z, xp: z,
}


def check_activation(name: Any) -> str:
    """Return ``name`` if it is a known activation, else raise a ValueError listing the valid ones."""
    if not isinstance(name, str) or name not in _ACT_FUNCS:
        raise UserInputError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return name


def activation_fn(name: str) -> Callable[[Any, Any], Any]:
    """The function ``f(z, xp)`` for a named activation (gelu uses the tanh approximation)."""
    return _ACT_FUNCS[check_activation(name)]


def activate(z, name: str, xp=np):
    """Apply a named activation elementwise."""
    return activation_fn(name)(z, xp)


def check_positive_int(value: Any, name: str) -> int:
    """Validate a positive integer argument, naming it and the bad value in the error."""
    return check_int(value, name, 1, "a positive integer")


def check_seed(seed: Any) -> int:
    """Validate a non-negative integer seed for ``np.random.default_rng``."""
    return check_int(seed, "seed", 0, "a non-negative integer")


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
    """Xavier/Glorot uniform weights: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


class Dense:
    """Affine map h -> h W + b; parameters concat(W.ravel() with W (n_in, n_out), b)."""

    def __init__(self, n_in: int, n_out: int):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.n_weights = self.n_in * self.n_out
        self.n_params = self.n_weights + self.n_out
        self.in_dim = self.n_in
        self.out_shape: tuple[int, ...] = (self.n_out,)
        self.out_dim = self.n_out

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Glorot-uniform weights, zero bias, as one flat parameter vector."""
        w = glorot_uniform(rng, (self.n_in, self.n_out), self.n_in, self.n_out)
        return np.concatenate([w.ravel(), np.zeros(self.n_out)])

    def split(self, params):
        """(W, b) views of a flat parameter vector (P,) or stack (M, P)."""
        lead = params.shape[:-1]
        w = params[..., : self.n_weights].reshape(*lead, self.n_in, self.n_out)
        return w, params[..., self.n_weights :]

    def forward(self, params, h, xp=np):
        """(B, n_in) -> (B, n_out) with one parameter vector."""
        w, b = self.split(params)
        return h @ w + b

    def forward_batched(self, params, h, xp=np):
        """Candidates (M, P) on inputs (B, n_in) or (M|1, B, n_in) -> (M, B, n_out)."""
        w, b = self.split(params)
        return h @ w + b[:, None, :]


class Conv2D:
    """Valid-padding 2-D cross-correlation with stride (im2col by a precomputed gather index).

    ``kernel`` is k (square) or (k_h, k_w). Parameters are concat(W.ravel() with W (c_out, c_in, k_h, k_w),
    b (c_out,)); input and output are flat C-order (C, H, W) maps.
    """

    def __init__(self, in_shape: tuple[int, int, int], c_out: int, kernel, stride: int = 1):
        c_in, height, width = (int(s) for s in in_shape)
        k_h, k_w = (int(kernel), int(kernel)) if np.ndim(kernel) == 0 else (int(k) for k in kernel)
        stride = int(stride)
        if k_h > height or k_w > width:
            raise UserInputError(
                f"kernel {kernel} does not fit an input of spatial size {height}x{width}"
            )
        self.in_shape: tuple[int, ...] = (c_in, height, width)
        self.c_in, self.c_out, self.stride = c_in, int(c_out), stride
        self.kernel_hw = (k_h, k_w)
        self.out_h = (height - k_h) // stride + 1
        self.out_w = (width - k_w) // stride + 1
        self.out_shape: tuple[int, ...] = (self.c_out, self.out_h, self.out_w)
        self.in_dim = c_in * height * width
        self.out_dim = self.c_out * self.out_h * self.out_w
        self.patch_size = c_in * k_h * k_w
        self.n_weights = self.c_out * self.patch_size
        self.n_params = self.n_weights + self.c_out
        self.index = self._patch_index(height, width)

    def _patch_index(self, height: int, width: int) -> np.ndarray:
        """Flat input indices (c_in*k_h*k_w, H'*W'): entry [(c, di, dj), (i, j)] -> x[c, i*s+di, j*s+dj]."""
        k_h, k_w = self.kernel_hw
        c = np.arange(self.c_in)[:, None, None, None, None]
        di = np.arange(k_h)[None, :, None, None, None]
        dj = np.arange(k_w)[None, None, :, None, None]
        i = np.arange(self.out_h)[None, None, None, :, None] * self.stride
        j = np.arange(self.out_w)[None, None, None, None, :] * self.stride
        flat = (c * height + i + di) * width + (j + dj)
        return flat.reshape(self.patch_size, self.out_h * self.out_w).astype(np.intp)

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Glorot-uniform kernels (fan_in = c_in k_h k_w, fan_out = c_out k_h k_w), zero bias."""
        area = self.kernel_hw[0] * self.kernel_hw[1]
        w = glorot_uniform(rng, (self.n_weights,), self.c_in * area, self.c_out * area)
        return np.concatenate([w, np.zeros(self.c_out)])

    def split(self, params):
        """(W as (..., c_out, c_in*k_h*k_w), b) views of a flat vector (P,) or stack (M, P)."""
        lead = params.shape[:-1]
        w = params[..., : self.n_weights].reshape(*lead, self.c_out, self.patch_size)
        return w, params[..., self.n_weights :]

    def patches(self, h, xp=np):
        """im2col: flat maps (..., C*H*W) -> (..., c_in*k_h*k_w, H'*W')."""
        return xp.take(h, self.index, axis=-1)

    def forward(self, params, h, xp=np):
        """(B, C*H*W) -> (B, c_out*H'*W') with one parameter vector."""
        w, b = self.split(params)
        out = w @ self.patches(h, xp) + b[:, None]
        return out.reshape(*out.shape[:-2], self.out_dim)

    def forward_batched(self, params, h, xp=np):
        """Candidates (M, P) on inputs (B, C*H*W) or (M|1, B, C*H*W) -> (M, B, c_out*H'*W')."""
        w, b = self.split(params)
        out = w[:, None] @ self.patches(h, xp) + b[:, None, :, None]
        return out.reshape(*out.shape[:-2], self.out_dim)


class Conv1D(Conv2D):
    """Valid-padding 1-D cross-correlation with stride: a Conv2D on (C, 1, L) maps with a (1, k) kernel.

    Input and output are flat C-order (C, L) maps; parameters concat(W (c_out, c_in, k).ravel(), b).
    """

    def __init__(self, in_shape: tuple[int, int], c_out: int, kernel: int, stride: int = 1):
        c_in, length = (int(s) for s in in_shape)
        if int(kernel) > length:
            raise UserInputError(f"kernel {kernel} does not fit an input of length {length}")
        super().__init__((c_in, 1, length), c_out, (1, int(kernel)), stride)
        self.in_shape = (c_in, length)
        self.out_shape = (self.c_out, self.out_w)
