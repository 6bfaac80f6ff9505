"""Encoding of real feature vectors into the complex amplitudes of a mesh's N input ports.

Every encoder is a fixed linear map ``A`` (n_ports x n_inputs) followed by a
per-sample normalization to unit total optical power, ``||a||_2 = 1`` (only the
shape of the input pattern reaches the chip; the laser sets the absolute power).
An all-zero sample stays all-zero: the norm is floored at ``NORM_FLOOR``.
Amplitudes are real: a negative (e.g. standardized) feature becomes an amplitude
with phase pi, i.e. ``-|a|``, which the interferometer distinguishes from ``+|a|``.

:class:`CoherentInput` is the drawn coherent input (``components.input_cells``) as
physics: an encoder's pattern set through per-port amplitude MZIs and sign heaters
on DACs behind a 1 -> N splitter tree ([input] table, :class:`InputSection`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..components.dac import dac_phases, drive_phases_unchecked
from .config_fields import Section, check_bits, check_real
from ..errors import UserInputError
from .physics.heaters import Heaters

NORM_FLOOR = 1e-12
IMAGE_METHODS = ("pool", "resize", "crop")
VECTOR_METHODS = ("auto", "pad", "area")

__all__ = ["CoherentInput", "ImageEncoder", "InputSection", "VectorEncoder", "area_matrix", "encoder_for", "NORM_FLOOR"]


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) 1-D area-average resampling: output cell i averages the input span it covers."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    return overlap / (hi - lo)


class _LinearEncoder:
    """Fixed linear map to n_ports amplitudes, then unit-power normalization per sample."""

    n_inputs: int
    n_ports: int

    def __init__(self, matrix: np.ndarray):
        matrix = np.array(matrix, dtype=np.float64)
        matrix.setflags(write=False)
        self._matrix = matrix
        self.n_ports, self.n_inputs = matrix.shape

    @property
    def matrix(self) -> np.ndarray:
        """The read-only (n_ports, n_inputs) map applied before normalization."""
        return self._matrix

    def _flatten(self, X: np.ndarray) -> np.ndarray:
        if X.ndim == 2 and X.shape[1] == self.n_inputs:
            return X
        if X.ndim == 1 and X.shape[0] == self.n_inputs:
            return X[None, :]
        raise ValueError(
            f"{type(self).__name__} expects features of shape (B, {self.n_inputs}), got {X.shape}"
        )

    def encode(self, X) -> np.ndarray:
        """Complex (B, n_ports) unit-power port amplitudes for real features X (B, n_inputs); 1-D X gives (n_ports,)."""
        X = np.asarray(X)
        if np.iscomplexobj(X):
            raise ValueError("features must be real; the encoder sets the sign/phase itself")
        X = X.astype(np.float64, copy=False)
        single = X.ndim == 1
        flat = self._flatten(X)
        if not np.all(np.isfinite(flat)):
            raise ValueError("features contain NaN or inf")
        a = flat @ self._matrix.T
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), NORM_FLOOR)
        a = a.astype(np.complex128)
        return a[0] if single else a

    __call__ = encode


class ImageEncoder(_LinearEncoder):
    """Image (h, w) -> k x k grid of port amplitudes, N = k^2, by "pool", "resize" (area average) or "crop".

    - "pool": average pooling, needs k to divide h and w (8x8 -> 4x4 for N=16);
    - "resize": exact area-average resampling to k x k, any k (8x8 -> 5x5 for N=25);
    - "crop": the central k x k pixels (needs k <= h, w).
    Features are the image flattened row-major; ``encode`` also accepts (B, h, w).
    """

    def __init__(self, image_shape: tuple[int, int] = (8, 8), n_ports: int = 16, method: str = "pool"):
        if len(image_shape) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in image_shape):
            raise ValueError(f"image_shape must be two positive integers (h, w), got {image_shape!r}")
        if not isinstance(n_ports, (int, np.integer)) or n_ports < 1:
            raise ValueError(f"n_ports must be a positive integer, got {n_ports!r}")
        k = math.isqrt(int(n_ports))
        if k * k != n_ports:
            raise ValueError(f"ImageEncoder maps onto a k x k grid; n_ports={n_ports} is not a perfect square")
        if method not in IMAGE_METHODS:
            raise ValueError(f"unknown image encoding method {method!r}; choose one of {', '.join(IMAGE_METHODS)}")
        h, w = (int(s) for s in image_shape)
        if method == "pool":
            if h % k or w % k:
                raise ValueError(
                    f"method='pool' needs the {k}x{k} grid to divide the {h}x{w} image; use method='resize'"
                )
            rows, cols = area_matrix(h, k), area_matrix(w, k)
        elif method == "resize":
            rows, cols = area_matrix(h, k), area_matrix(w, k)
        else:
            if k > h or k > w:
                raise ValueError(f"method='crop' cannot cut a {k}x{k} window from a {h}x{w} image")
            rows = np.eye(h)[(h - k) // 2 : (h - k) // 2 + k]
            cols = np.eye(w)[(w - k) // 2 : (w - k) // 2 + k]
        super().__init__(np.kron(rows, cols))
        self.image_shape = (h, w)
        self.grid_shape = (k, k)
        self.method = method

    def encode(self, X) -> np.ndarray:
        """Complex (B, N) unit-power amplitudes from images (B, h*w) or (B, h, w); one image gives (N,)."""
        X = np.asarray(X)
        if X.ndim == 3 and X.shape[1:] == self.image_shape:
            X = X.reshape(X.shape[0], self.n_inputs)
        elif X.ndim == 2 and X.shape == self.image_shape and X.shape[1] != self.n_inputs:
            X = X.reshape(self.n_inputs)
        return super().encode(X)

    __call__ = encode

    def __repr__(self) -> str:
        return f"ImageEncoder(image_shape={self.image_shape}, n_ports={self.n_ports}, method={self.method!r})"


class VectorEncoder(_LinearEncoder):
    """Feature vector (n_features,) -> n_ports amplitudes by zero padding ("pad") or 1-D area averaging ("area").

    "auto" pads when n_features <= n_ports and area-averages otherwise. A custom
    fixed map can be given as ``matrix`` (n_ports, n_features).
    """

    def __init__(self, n_features: int, n_ports: int, method: str = "auto", matrix=None):
        for name, v in (("n_features", n_features), ("n_ports", n_ports)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        n_features, n_ports = int(n_features), int(n_ports)
        if matrix is not None:
            matrix = np.asarray(matrix)
            if matrix.shape != (n_ports, n_features) or np.iscomplexobj(matrix):
                raise ValueError(
                    f"matrix must be real with shape ({n_ports}, {n_features}), got {matrix.dtype} {matrix.shape}"
                )
            method = "matrix"
        elif method not in VECTOR_METHODS:
            raise ValueError(f"unknown vector encoding method {method!r}; choose one of {', '.join(VECTOR_METHODS)}")
        elif method == "auto":
            method = "pad" if n_features <= n_ports else "area"
        if method == "pad":
            if n_features > n_ports:
                raise ValueError(
                    f"cannot zero-pad {n_features} features into {n_ports} ports; use method='area' or a matrix"
                )
            matrix = np.eye(n_ports, n_features)
        elif method == "area":
            matrix = area_matrix(n_features, n_ports)
        super().__init__(matrix)
        self.method = method

    def __repr__(self) -> str:
        return f"VectorEncoder(n_features={self.n_inputs}, n_ports={self.n_ports}, method={self.method!r})"


@dataclass(frozen=True)
class InputSection(Section):
    """The coherent input ([input] table): one laser split 1 -> N by 1x2 MMIs, per port an amplitude MZI and a sign heater.

    Heaters follow ``physics.Heaters`` (P_pi, R) driven by ``dac_bits`` DACs over [0, v_max_V];
    the amplitude MZI's finite ``extinction_ratio_dB`` is realised, as in the drawn cell's
    model, by its heater arm's extra loss (:attr:`arm_loss_dB`, also on the sign heater).
    """

    TABLE = "input"

    extinction_ratio_dB: float = 30.0
    dac_bits: int | None = 16
    v_max_V: float = 7.5
    p_pi_mW: float = 25.0
    resistance_ohm: float = 1000.0
    splitter_loss_dB: float = 0.3

    def __post_init__(self):
        t = self.TABLE
        for name in ("extinction_ratio_dB", "v_max_V", "p_pi_mW", "resistance_ohm"):
            object.__setattr__(self, name, check_real(t, name, getattr(self, name), lo=0, lo_open=True))
        object.__setattr__(self, "splitter_loss_dB", check_real(t, "splitter_loss_dB", self.splitter_loss_dB, lo=0))
        object.__setattr__(self, "dac_bits", check_bits(t, "dac_bits", self.dac_bits))
        if self.heaters.phase_range_rad < 2 * math.pi:
            raise UserInputError(
                f"[input] v_max_V must reach a 2 pi phase (>= {self.heaters.v_pi_V * math.sqrt(2):.4g} V "
                f"at p_pi_mW={self.p_pi_mW}, resistance_ohm={self.resistance_ohm}), got {self.v_max_V!r}")

    @property
    def heaters(self) -> Heaters:
        """The amplitude and sign heaters with their DAC."""
        return Heaters(resistance_ohm=self.resistance_ohm, p_pi_mW=self.p_pi_mW, v_max_V=self.v_max_V,
                       dac_bits=self.dac_bits)

    @property
    def arm_loss_dB(self) -> float:
        """Extra loss of the MZI's heater arm that limits its extinction to ``extinction_ratio_dB``."""
        r = 10 ** (self.extinction_ratio_dB / 20)
        return -20 * math.log10((r - 1) / (r + 1))


class CoherentInput:
    """Features -> signed port amplitudes (``encoder``, scaled so the largest is 1) -> DAC drives -> relative port fields.

    Fields are per unit laser power in the fibre before the grating: they carry the
    1 / 2^ceil(log2 N) split, the MMI stage losses and the MZIs' finite extinction, so a
    laser power and a grating loss (the chip's budget) scale them. Equal to the drawn
    cell's model (``cell_models.coherent_input_model``) at the same drives, up to its route phase.
    """

    def __init__(self, encoder: _LinearEncoder, section: InputSection | None = None):
        if not isinstance(encoder, _LinearEncoder):
            raise TypeError(f"encoder must be an ImageEncoder or VectorEncoder, got {type(encoder).__name__}")
        self.encoder = encoder
        self.section = InputSection() if section is None else section
        self.n_ports, self.n_inputs = encoder.n_ports, encoder.n_inputs
        self.levels = math.ceil(math.log2(self.n_ports)) if self.n_ports > 1 else 0

    def amplitudes(self, X) -> np.ndarray:
        """Real (B, N) target amplitudes in [-1, 1]: the encoder's pattern over its largest magnitude (0 stays 0)."""
        a = self.encoder.encode(X).real
        peak = np.max(np.abs(a), axis=-1, keepdims=True)
        return np.clip(a / np.maximum(peak, NORM_FLOOR), -1.0, 1.0)

    def drives(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(amplitude-MZI phase, sign-heater phase), each (B, N), after the DACs."""
        return dac_phases(self.amplitudes(X), self.section.heaters)

    def fields_from_drives(self, theta, sign, xp=np) -> np.ndarray:
        """Complex port fields for given heater phases: tree x MZI (mmi1x2, heater arm, mmi1x2) x sign heater."""
        s = self.section
        stage = 10 ** (-s.splitter_loss_dB / 20) / math.sqrt(2)
        arm = 10 ** (-s.arm_loss_dB / 20)
        if xp is np:
            theta, sign = np.asarray(theta, dtype=float), np.asarray(sign, dtype=float)
        return stage ** (self.levels + 2) * (arm * xp.exp(1j * theta) + 1.0) * arm * xp.exp(1j * sign)

    def encode_jax(self, X, *, dac: bool = False):
        """The same fields as jax operations of X. ``dac=False`` (the differentiable twin) leaves out the DACs' rounding;
        ``dac=True`` is :meth:`encode` itself (the compiled measurement)."""
        import jax.numpy as jnp

        a = jnp.asarray(X) @ self.encoder.matrix.T
        if dac:
            a = a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), NORM_FLOOR)
            peak = jnp.max(jnp.abs(a), axis=-1, keepdims=True)
            # the largest amplitude exactly +-1 as in numpy (XLA may divide by a reciprocal: 1 - 1 ulp would move the
            # MZI drive off 0, where V ~ sqrt(phase) makes the DAC code sensitive)
            scaled = jnp.clip(a / jnp.maximum(peak, NORM_FLOOR), -1.0, 1.0)
            a = jnp.where((jnp.abs(a) == peak) & (peak > NORM_FLOOR), jnp.sign(a), scaled)
            return self.fields_from_drives(*drive_phases_unchecked(a, self.section.heaters, jnp), xp=jnp)
        a = a / jnp.maximum(jnp.max(jnp.abs(a), axis=-1, keepdims=True), NORM_FLOOR)
        theta = 2 * jnp.arccos(jnp.clip(jnp.abs(a), 0.0, 1.0))
        return self.fields_from_drives(theta, jnp.where(a < 0, math.pi, 0.0) - theta / 2, xp=jnp)

    def encode(self, X) -> np.ndarray:
        """Complex (B, N) relative port fields for features X (one sample gives (N,))."""
        return self.fields_from_drives(*self.drives(X))

    __call__ = encode

    def __repr__(self) -> str:
        return f"CoherentInput({self.encoder!r}, {self.section!r})"


def encoder_for(n_features: int, ports: int, image_shape=None) -> _LinearEncoder:
    """A chip's encoder: 2-D inputs pooled (or resampled) onto a k x k port grid, vectors padded or area-averaged."""
    if image_shape is not None:
        k = int(round(np.sqrt(ports)))
        if k * k == ports:
            h, w = image_shape
            method = "pool" if h % k == 0 and w % k == 0 else "resize"
            return ImageEncoder(image_shape=tuple(image_shape), n_ports=ports, method=method)
    return VectorEncoder(n_features, ports)
