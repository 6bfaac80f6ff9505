"""A mesh's field propagation for jit-compiled loops: each column's factors formed inside the column scan.

``CompiledMesh.propagate_jax`` first scatters every column's transfer factors into (C, N, M) arrays; inside a
compiled training loop that scatter costs more than the propagation itself. Here the factors of a column are
gathered from per-MZI phasors as the scan reaches it, so nothing (C, N, M)-sized is materialized (2x faster at
N = 64). Same ideal-coupler algebra as ``column_factors``; a mesh with routed waveguides uses ``propagate_jax``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .compiled import CompiledMesh


class ColumnTables(NamedTuple):
    """Per (column, port): the MZI it belongs to (n_mzis: none) and its d / o coefficients a e^{i theta} + b."""

    mzi: np.ndarray  # (C, N) int
    a_d: np.ndarray  # (C, N) complex
    b_d: np.ndarray
    phi_d: np.ndarray  # (C, N) bool: d also carries e^{i phi}
    a_o: np.ndarray
    b_o: np.ndarray
    phi_o: np.ndarray
    swap: np.ndarray  # (C, N) int: the other port of the port's MZI (itself when idle)


def column_tables(mesh: CompiledMesh) -> ColumnTables:
    """The coefficient tables of ``mesh`` (the upper port of MZI k: d = (a0 e^it + b0) e^ip, o = a1 e^it + b1;
    the lower: d = a3 e^it + b3, o = (a2 e^it + b2) e^ip; an idle port: d = 1, o = 0)."""
    c, n, n_mzis = mesh.n_columns, mesh.n_ports, mesh.spec.n_mzis
    cols = np.array([m.column for m in mesh.spec.mzis], dtype=np.intp)
    rows = np.array([m.row for m in mesh.spec.mzis], dtype=np.intp)
    k = np.arange(n_mzis)
    mzi = np.full((c, n), n_mzis, dtype=np.intp)
    mzi[cols, rows] = mzi[cols, rows + 1] = k
    a_d, b_d = np.zeros((c, n), complex), np.ones((c, n), complex)
    a_o, b_o = np.zeros((c, n), complex), np.zeros((c, n), complex)
    phi_d, phi_o = np.zeros((c, n), bool), np.zeros((c, n), bool)
    al, be = mesh.alpha, mesh.beta
    a_d[cols, rows], b_d[cols, rows], phi_d[cols, rows] = al[0], be[0], True
    a_o[cols, rows], b_o[cols, rows] = al[1], be[1]
    a_o[cols, rows + 1], b_o[cols, rows + 1], phi_o[cols, rows + 1] = al[2], be[2], True
    a_d[cols, rows + 1], b_d[cols, rows + 1] = al[3], be[3]
    return ColumnTables(mzi, a_d, b_d, phi_d, a_o, b_o, phi_o, np.asarray(mesh.swap, dtype=np.intp))


def _phasor(x):
    return jax.lax.complex(jnp.cos(x), jnp.sin(x))


def propagate(mesh: CompiledMesh, params: Any, fields: Any) -> Any:
    """Fields (B, N) or (M|1, B, N) through params (P,) or (M, P) -> (M, B, N); (P,) with (B, N) gives (B, N).

    A single parameter vector on stacked fields is shared by every stack entry (a committed layer after
    perturbed ones). Runs in the precision jax is set to (float64 under ``jax.enable_x64(True)``).
    """
    p = jnp.asarray(params)
    f = jnp.asarray(fields).astype(complex)
    if mesh.route_phase is not None or mesh.route_loss_dB is not None:
        shared = p.ndim == 1 and f.ndim == 3
        return mesh.propagate_jax(jnp.broadcast_to(p, (f.shape[0],) + p.shape) if shared else p, f)
    p2 = jnp.atleast_2d(p)
    theta, phi, screen = mesh.spec.split_params(p2)
    one = jnp.ones((1, p2.shape[0]), complex)
    et = jnp.concatenate([_phasor(theta.T), one])  # (n_mzis + 1, M): the last row serves idle ports
    ep = jnp.concatenate([_phasor(phi.T), one])
    y = f.T[:, None, :] if f.ndim == 2 else f.transpose(2, 0, 1)  # port-major (N, M|1, B)
    m = max(p2.shape[0], y.shape[1])
    y = jnp.broadcast_to(y, (y.shape[0], m, y.shape[2]))

    def column(y, table):
        mzi, a_d, b_d, phi_d, a_o, b_o, phi_o, swap = table
        e, g = et[mzi], ep[mzi]
        d = (a_d[:, None] * e + b_d[:, None]) * jnp.where(phi_d[:, None], g, 1.0)
        o = (a_o[:, None] * e + b_o[:, None]) * jnp.where(phi_o[:, None], g, 1.0)
        return d[..., None] * y + o[..., None] * y[swap], None

    y, _ = jax.lax.scan(column, y, tuple(column_tables(mesh)))
    y = (y * _phasor(screen.T)[..., None]).transpose(1, 2, 0)
    return y[0] if p.ndim == 1 and f.ndim == 2 else y
