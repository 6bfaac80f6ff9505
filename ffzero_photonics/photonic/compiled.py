"""Fast path: a mesh compiled to per-column index arrays (numpy and jax).

Each column of MZIs acts on disjoint port pairs, so it is applied as
``y = d * y + o * y[swap]`` on port-major fields y (N, M, B), ``swap``
exchanging the two ports of every MZI in the column (neurophox style): O(N)
work per column and sample, no N x N matrix per column. ``d`` holds the MZI
diagonal (T11 on upper, T22 on lower ports, 1 on idle ports), ``o`` the
off-diagonal (T12, T21, 0); the output screen is folded into the last column.
``U`` is the same sweep applied to the identity. The result equals the sax
netlist of :mod:`ffzero_photonics.photonic.netlist`.

Routed waveguides between columns (their phase and loss) are optional
per-(column, port) diagonal factors folded into the same column factors; with
them the result equals the netlist ``with_waveguides`` (see
:func:`route_phases_from_lengths`), and :func:`compensate_route_phases`
re-solves phi and the screen so a routed mesh realises the unrouted one.
"""

from __future__ import annotations

import re
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ffzero_photonics.photonic.mesh_spec import MeshSpec

__all__ = [
    "CompiledMesh",
    "compensate_route_phases",
    "mzi_coefficients",
    "per_coupler",
    "per_mzi",
    "route_kwargs",
    "route_phases_from_lengths",
    "route_shape",
]

# Above this many inputs per port (B / N) propagate() builds U once and applies
# it with one batched matmul; below it, fields go through the columns directly.
# Measured with benchmarks/mesh_speed.py: the direct path wins for B <~ N.
DIRECT_MAX_BATCH_PER_PORT = 1.0
# Fields are swept through the columns in chunks of settings of about this many
# complex numbers (256 kB), so each chunk stays in cache across columns.
CHUNK_ELEMENTS = 16384


def per_coupler(coupling, n_mzis: int) -> np.ndarray:
    """Coupling ratios broadcast to (n_mzis, 2) = (input coupler, output coupler), checked in [0, 1]."""
    c = np.asarray(coupling, dtype=float)
    if c.shape == (n_mzis,):
        c = c[:, None]
    if not (c.ndim == 0 or (c.ndim == 2 and c.shape[0] == n_mzis and c.shape[1] in (1, 2))):
        raise ValueError(f"coupling must be a scalar, ({n_mzis},) or ({n_mzis}, 2), got shape {c.shape}")
    if np.any((c < 0) | (c > 1)):
        raise ValueError(f"coupling ratios must lie in [0, 1], got {coupling!r}")
    return np.broadcast_to(c, (n_mzis, 2)).copy()


def per_mzi(value, n_mzis: int, name: str) -> np.ndarray:
    """A scalar or (n_mzis,) per-MZI quantity as an (n_mzis,) float array."""
    v = np.asarray(value, dtype=float)
    if v.ndim not in (0, 1) or (v.ndim == 1 and v.shape != (n_mzis,)):
        raise ValueError(f"{name} must be a scalar or shape ({n_mzis},), got shape {v.shape}")
    return np.broadcast_to(v, (n_mzis,)).copy()


def mzi_coefficients(coupling=0.5, loss_dB=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Constants (alpha, beta), each (4, n), with T = (alpha e^{i theta} + beta) * (e^{i phi}, 1, e^{i phi}, 1).

    Rows are (T11, T12, T21, T22) of the MZI on (upper, lower) for couplers
    with power couplings ``coupling`` (n, 2) = (input, output) and MZI loss
    ``loss_dB`` (n,), matching ``components.models.mzi``.
    """
    c = np.atleast_2d(np.asarray(coupling, dtype=float))
    a = 10 ** (-np.asarray(loss_dB, dtype=float) / 20)
    t1, s1 = np.sqrt(1 - c[:, 0]), np.sqrt(c[:, 0])
    t2, s2 = np.sqrt(1 - c[:, 1]), np.sqrt(c[:, 1])
    alpha = a * np.stack([t1 * t2, 1j * t2 * s1, 1j * s2 * t1, -s1 * s2])
    beta = a * np.stack([-s1 * s2, 1j * s2 * t1, 1j * t2 * s1, t1 * t2])
    return alpha.astype(complex), beta.astype(complex)


def route_shape(spec: MeshSpec) -> tuple[int, int]:
    """(n_columns + 1, N): one route per (downstream column, port); row ``n_columns`` feeds the output screen."""
    return (spec.n_columns + 1, spec.n_ports)


def _per_route(value, spec: MeshSpec, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    shape = route_shape(spec)
    if v.ndim != 0 and v.shape != shape:
        raise ValueError(f"{name} must be a scalar or shape {shape} = (n_columns + 1, N), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains non-finite values")
    return np.broadcast_to(v, shape).copy()


_WG_NAME = re.compile(r"wg_p(\d+)_c(\d+)")


def route_phases_from_lengths(
    lengths_um,
    spec: MeshSpec,
    *,
    wl: float = 1.55,
    wl0: float = 1.55,
    neff: float = 2.34,
    ng: float = 3.4,
    loss_dB_cm: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(route_phase, route_loss_dB), each (n_columns + 1, N), of routed waveguides of the given lengths.

    ``lengths_um`` maps the netlist's waveguide names ``wg_p{p}_c{col}`` (as
    ``layouts.mesh_layout.waveguide_lengths`` returns them) to µm, or is an
    (n_columns + 1, N) array; missing routes have length 0. Phase and loss follow
    ``components.models.waveguide`` (neff linear in wl with group index ``ng``).
    """
    shape = route_shape(spec)
    if isinstance(lengths_um, Mapping):
        lengths = np.zeros(shape)
        bad = []
        for name, value in lengths_um.items():
            m = _WG_NAME.fullmatch(str(name))
            if m is None or int(m.group(1)) >= shape[1] or int(m.group(2)) >= shape[0]:
                bad.append(name)
                continue
            lengths[int(m.group(2)), int(m.group(1))] = float(value)
        if bad:
            raise ValueError(f"no such routes in a {spec.topology} mesh with N={spec.n_ports}: {sorted(map(str, bad))!r}")
    else:
        lengths = _per_route(lengths_um, spec, "lengths_um")
    if not np.all(np.isfinite(lengths)) or np.any(lengths < 0):
        raise ValueError(f"route lengths must be finite and >= 0 µm, got min {np.nanmin(lengths)!r}")
    if not (wl > 0 and wl0 > 0):
        raise ValueError(f"wavelengths must be positive, got wl={wl!r}, wl0={wl0!r}")
    n_wl = neff - (wl - wl0) * (ng - neff) / wl0
    return 2 * np.pi * n_wl * lengths / wl, loss_dB_cm * 1e-4 * lengths


def route_kwargs(spec: MeshSpec, lengths_um=None, **waveguide) -> dict:
    """``CompiledMesh`` keyword arguments (route_phase, route_loss_dB) for routes of ``lengths_um``; {} for None.

    ``waveguide`` (wl, wl0, neff, ng, loss_dB_cm) as in :func:`route_phases_from_lengths`.
    """
    if lengths_um is None:
        return {}
    phase, loss = route_phases_from_lengths(lengths_um, spec, **waveguide)
    return {"route_phase": phase, "route_loss_dB": loss if np.any(loss) else None}


def compensate_route_phases(spec: MeshSpec, params, route_phase) -> np.ndarray:
    """Parameters that make the routed mesh realise what ``params`` realise on the unrouted one.

    A diagonal phase before an MZI passes through it as
    ``T(theta, phi) diag(e^{ia}, e^{ib}) = e^{ib} T(theta, phi + a - b)``, so
    route phases are absorbed exactly by the phi heaters and the output screen
    (theta is unchanged; route loss cannot be compensated). params (P,) or (M, P).
    """
    params = np.asarray(params, dtype=float)
    if params.shape[-1:] != (spec.n_params,) or params.ndim not in (1, 2):
        raise ValueError(f"params must have shape ({spec.n_params},) or (M, {spec.n_params}), got {params.shape}")
    route = _per_route(route_phase, spec, "route_phase")
    p2 = np.atleast_2d(params).copy()
    phi = p2[:, 1 : 2 * spec.n_mzis : 2]
    excess = np.zeros((p2.shape[0], spec.n_ports))
    index = {m: i for i, m in enumerate(spec.mzis)}
    for c, column in enumerate(spec.columns()):
        excess += route[c]
        if not column:
            continue
        ids = np.array([index[m] for m in column])
        rows = np.array([m.row for m in column])
        phi[:, ids] += excess[:, rows + 1] - excess[:, rows]
        excess[:, rows] = excess[:, rows + 1]
    excess += route[spec.n_columns]
    p2[:, 1 : 2 * spec.n_mzis : 2] = phi
    p2[:, 2 * spec.n_mzis :] -= excess
    p2 = np.mod(p2, 2 * np.pi)
    return p2[0] if params.ndim == 1 else p2


class CompiledMesh:
    """Transfer matrix and field propagation of a mesh, vectorized over settings and samples.

    ``coupling`` is None (ideal 50:50), a scalar, (n_mzis,) or (n_mzis, 2) =
    (input, output coupler) power couplings; ``mzi_loss_dB`` None, a scalar or
    (n_mzis,). Parameters follow ``spec``'s order (``spec.split_params``).
    ``route_phase`` / ``route_loss_dB`` (None, a scalar or (n_columns + 1, N),
    see :func:`route_phases_from_lengths`) are the phase and loss of the routed
    waveguide entering column c (row n_columns: the screen) on each port.
    """

    def __init__(self, spec: MeshSpec, *, coupling=None, mzi_loss_dB=None, route_phase=None, route_loss_dB=None):
        self.spec = spec
        n, n_mzis = spec.n_ports, spec.n_mzis
        self.n_ports, self.n_params, self.n_columns = n, spec.n_params, spec.n_columns
        self.coupling = per_coupler(0.5 if coupling is None else coupling, n_mzis)
        self.mzi_loss_dB = per_mzi(0.0 if mzi_loss_dB is None else mzi_loss_dB, n_mzis, "mzi_loss_dB")
        self.alpha, self.beta = mzi_coefficients(self.coupling, self.mzi_loss_dB)

        cols = np.array([m.column for m in spec.mzis], dtype=np.intp)
        rows = np.array([m.row for m in spec.mzis], dtype=np.intp)
        c = self.n_columns
        swap = np.tile(np.arange(n), (c, 1))
        swap[cols, rows], swap[cols, rows + 1] = rows + 1, rows
        idle = np.ones((c, n), dtype=bool)
        idle[cols, rows] = idle[cols, rows + 1] = False
        self.swap = swap
        # per column, the port range that holds its MZIs (the last column spans
        # all ports because the output screen is folded into it)
        spans = [
            (int(rows[cols == k].min()), int(rows[cols == k].max()) + 2) if np.any(cols == k) else (0, 0)
            for k in range(c)
        ]
        spans[-1] = (0, n)
        self._spans = spans
        # flat (column * N + port) positions of T11, T22 in d and T12, T21 in o
        self._up = cols * n + rows
        self._lo = self._up + 1
        self._d_base = idle.astype(complex).ravel()
        self.route_phase = None if route_phase is None else _per_route(route_phase, spec, "route_phase")
        self.route_loss_dB = None if route_loss_dB is None else _per_route(route_loss_dB, spec, "route_loss_dB")
        self._route_d, self._route_o = self._route_factors(idle)

    def _route_factors(self, idle: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per-column (C, N) multipliers of d and o for the routes, or (None, None) without routes.

        A route on a port idle in its column is moved on to the port's next
        active column (diagonal factors commute with an idle port), so column
        spans stay valid; the screen's routes scale the last column's output.
        """
        if self.route_phase is None and self.route_loss_dB is None:
            return None, None
        phase = 0.0 if self.route_phase is None else self.route_phase
        loss = 0.0 if self.route_loss_dB is None else self.route_loss_dB
        r = np.broadcast_to(10 ** (-np.asarray(loss) / 20) * np.exp(1j * np.asarray(phase)), route_shape(self.spec)).copy()
        c = self.n_columns
        for k in range(c):
            r[k + 1, idle[k]] *= r[k, idle[k]]
            r[k, idle[k]] = 1.0
        rd = r[:c].copy()
        ro = np.take_along_axis(r[:c], self.swap, axis=1)
        rd[-1] *= r[c]
        ro[-1] *= r[c]
        return rd, ro

    def __repr__(self) -> str:
        return f"CompiledMesh({self.spec.topology!r}, n_ports={self.n_ports}, n_mzis={self.spec.n_mzis})"

    # numpy ---------------------------------------------------------------
    # Arrays are port-major, (N, M, B): a column gathers whole rows (memcpy) and
    # scales them by (N, M, 1) factors, and the unitary path is one (N*M, N) GEMM.

    def _check_params(self, params) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        if params.ndim not in (1, 2) or params.shape[-1] != self.n_params:
            raise ValueError(f"params must have shape ({self.n_params},) or (M, {self.n_params}), got {params.shape}")
        return params

    def column_factors(self, params) -> tuple[np.ndarray, np.ndarray]:
        """Port-major (d, o), each (C, N, M), for params (M, P); the screen is folded into the last column."""
        theta, phi, screen = self.spec.split_params(params)
        m = params.shape[0]
        et, ep = np.exp(1j * theta.T), np.exp(1j * phi.T)
        size = self.n_columns * self.n_ports
        d = np.empty((size, m), dtype=complex)
        d[:] = self._d_base[:, None]
        o = np.zeros((size, m), dtype=complex)
        t = np.empty_like(et)
        targets = ((d, self._up, True), (o, self._up, False), (o, self._lo, True), (d, self._lo, False))
        for k, (dest, rows, times_ep) in enumerate(targets):
            np.multiply(self.alpha[k][:, None], et, out=t)
            t += self.beta[k][:, None]
            if times_ep:
                t *= ep
            dest[rows] = t
        d, o = d.reshape(self.n_columns, self.n_ports, m), o.reshape(self.n_columns, self.n_ports, m)
        es = np.exp(1j * screen.T)
        d[-1] *= es
        o[-1] *= es
        if self._route_d is not None:
            d *= self._route_d[:, :, None]
            o *= self._route_o[:, :, None]
        return d, o

    def _run_columns(self, params: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Apply all columns (and the screen) in place to port-major fields y (N, M, B)."""
        d, o = self.column_factors(params)
        d, o = d[..., None], o[..., None]
        n, m, bsz = y.shape
        chunk = max(1, CHUNK_ELEMENTS // (n * bsz))
        if chunk >= m:
            return self._columns_inplace(y, d, o)
        for s in range(0, m, chunk):
            part = slice(s, s + chunk)
            y[:, part] = self._columns_inplace(np.ascontiguousarray(y[:, part]), d[:, :, part], o[:, :, part])
        return y

    def _columns_inplace(self, y: np.ndarray, d: np.ndarray, o: np.ndarray) -> np.ndarray:
        tmp = np.empty_like(y)
        for c, (a, b) in enumerate(self._spans):
            part = tmp[a:b]
            np.take(y, self.swap[c, a:b], axis=0, out=part)
            part *= o[c, a:b]
            ys = y[a:b]
            ys *= d[c, a:b]
            ys += part
        return y

    def _unitaries_pm(self, params: np.ndarray) -> np.ndarray:
        """Port-major U: (N_out, M, N_in)."""
        n, m = self.n_ports, params.shape[0]
        y = np.zeros((n, m, n), dtype=complex)
        y[np.arange(n), :, np.arange(n)] = 1.0
        return self._run_columns(params, y)

    def unitary(self, params) -> np.ndarray:
        """U[out, in] of shape (N, N) for params (P,), or (M, N, N) for (M, P)."""
        params = self._check_params(params)
        u = self._unitaries_pm(np.atleast_2d(params)).transpose(1, 0, 2)
        return u[0].copy() if params.ndim == 1 else np.ascontiguousarray(u)

    def propagate(self, params, fields, *, method: str = "auto") -> np.ndarray:
        """Output fields y = U x for params (M, P) and fields (B, N) or (M, B, N) -> (M, B, N).

        ``method="direct"`` sends the fields through the columns (O(C N B) per
        setting); ``"unitary"`` builds U (O(C N^2)) and applies it with one
        matmul; ``"auto"`` picks direct when B <= N (``DIRECT_MAX_BATCH_PER_PORT``),
        which is where it measured faster. params (P,) with fields (B, N) returns (B, N).
        """
        params = self._check_params(params)
        x = np.asarray(fields)
        if x.ndim not in (2, 3) or x.shape[-1] != self.n_ports:
            raise ValueError(f"fields must have shape (B, {self.n_ports}) or (M, B, {self.n_ports}), got {x.shape}")
        p2 = np.atleast_2d(params)
        m, n, bsz = p2.shape[0], self.n_ports, x.shape[-2]
        if x.ndim == 3 and x.shape[0] != m:
            if x.shape[0] != 1:
                raise ValueError(f"fields (M, B, N) must share M={m} with params, got {x.shape}")
            x = x[0]
        if method == "auto":
            method = "direct" if bsz <= DIRECT_MAX_BATCH_PER_PORT * n else "unitary"
        if method == "direct":
            y = np.empty((n, m, bsz), dtype=complex)
            y[:] = x.T[:, None, :] if x.ndim == 2 else x.transpose(2, 0, 1)
            y = self._run_columns(p2, y).transpose(1, 2, 0)
        elif method == "unitary":
            u = self._unitaries_pm(p2)
            if x.ndim == 2:
                y = (x @ u.reshape(n * m, n).T).reshape(bsz, n, m).transpose(2, 0, 1)
            else:
                y = np.matmul(x, u.transpose(1, 2, 0))
        else:
            raise ValueError(f"method must be 'auto', 'direct' or 'unitary', got {method!r}")
        y = np.ascontiguousarray(y)
        return y[0] if params.ndim == 1 and np.ndim(fields) == 2 else y

    # jax -----------------------------------------------------------------
    # Same port-major algorithm, columns under lax.scan so compile time does not
    # grow with the number of columns. It runs in the precision jax is set to: call
    # it under ``jax.enable_x64(True)`` for float64 (the package never flips the flag).
    # The numpy path above stays a separate in-place kernel: a shared xp version
    # (gather instead of scatter) measured 1.9x slower column factors.

    def column_factors_jax(self, params):
        """jax version of :meth:`column_factors`: port-major (d, o), each (C, N, M), for params (M, P)."""
        theta, phi, screen = self.spec.split_params(params)
        m = params.shape[0]
        et, ep = jnp.exp(1j * theta.T), jnp.exp(1j * phi.T)
        t = jnp.asarray(self.alpha)[:, :, None] * et + jnp.asarray(self.beta)[:, :, None]
        size = self.n_columns * self.n_ports
        d = jnp.broadcast_to(jnp.asarray(self._d_base)[:, None], (size, m))
        d = d.at[self._up].set(t[0] * ep).at[self._lo].set(t[3])
        o = jnp.zeros((size, m), dtype=complex)
        o = o.at[self._up].set(t[1]).at[self._lo].set(t[2] * ep)
        d = d.reshape(self.n_columns, self.n_ports, m)
        o = o.reshape(self.n_columns, self.n_ports, m)
        es = jnp.exp(1j * screen.T)
        d, o = d.at[-1].multiply(es), o.at[-1].multiply(es)
        if self._route_d is not None:
            d = d * jnp.asarray(self._route_d)[:, :, None]
            o = o * jnp.asarray(self._route_o)[:, :, None]
        return d, o

    def _run_columns_jax(self, params, y):
        d, o = self.column_factors_jax(params)

        def step(y, col):
            dc, oc, swap = col
            return dc[..., None] * y + oc[..., None] * y[swap], None

        y, _ = jax.lax.scan(step, y, (d, o, jnp.asarray(self.swap)))
        return y

    def _unitaries_pm_jax(self, params):
        n, m = self.n_ports, params.shape[0]
        eye = jnp.broadcast_to(jnp.eye(n, dtype=complex)[:, None, :], (n, m, n))
        return self._run_columns_jax(params, eye)

    def unitary_jax(self, params):
        """Differentiable U[out, in]: (N, N) for params (P,), (M, N, N) for (M, P)."""
        u = self._unitaries_pm_jax(jnp.atleast_2d(params)).transpose(1, 0, 2)
        return u[0] if params.ndim == 1 else u

    def propagate_jax(self, params, fields, *, method: str = "auto"):
        """Differentiable :meth:`propagate`, same shapes and ``method`` choice (made at trace time)."""
        p2 = jnp.atleast_2d(params)
        m, n = p2.shape[0], self.n_ports
        x = jnp.asarray(fields).astype(complex)
        if x.ndim not in (2, 3) or x.shape[-1] != n:
            raise ValueError(f"fields must have shape (B, {n}) or (M, B, {n}), got {x.shape}")
        if x.ndim == 3 and x.shape[0] != m:
            if x.shape[0] != 1:
                raise ValueError(f"fields (M, B, N) must share M={m} with params, got {x.shape}")
            x = x[0]
        bsz = x.shape[-2]
        if method == "auto":
            method = "direct" if bsz <= DIRECT_MAX_BATCH_PER_PORT * n else "unitary"
        if method == "direct":
            y0 = x.T[:, None, :] if x.ndim == 2 else x.transpose(2, 0, 1)
            y = self._run_columns_jax(p2, jnp.broadcast_to(y0, (n, m, bsz))).transpose(1, 2, 0)
        elif method == "unitary":
            u = self._unitaries_pm_jax(p2)
            y = jnp.einsum("omi,bi->mbo", u, x) if x.ndim == 2 else jnp.einsum("omi,mbi->mbo", u, x)
        else:
            raise ValueError(f"method must be 'auto', 'direct' or 'unitary', got {method!r}")
        return y[0] if params.ndim == 1 and jnp.ndim(fields) == 2 else y
