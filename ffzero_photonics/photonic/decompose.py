"""Program an arbitrary unitary into the phases of a Clements or Reck MZI mesh.

Convention (project-wide, see :mod:`mesh_spec`): with the coupler
``BS = [[1, i], [i, 1]] / sqrt(2)``, an MZI is
``T(theta, phi) = BS diag(e^{i theta}, 1) BS diag(e^{i phi}, 1)
= i e^{i theta/2} [[s e^{i phi}, c], [c e^{i phi}, -s]]`` with
``s, c = sin(theta/2), cos(theta/2)``, and the mesh is
``U = diag(e^{i screen}) Col_{C-1} ... Col_0``.

Algorithm (Clements et al., Optica 3, 1460 (2016)): the strictly lower triangle of U
is zeroed one anti-diagonal at a time, starting at the bottom-left corner. Even
anti-diagonals are nulled from the input side (``U <- U T^{-1}`` mixes two columns),
odd ones from the output side (``U <- T U`` mixes two rows). What remains is a
diagonal D, and ``U = L_1^{-1} ... L_k^{-1} D R_m ... R_1``. D is pushed to the
output through every ``L^{-1}`` with the identity (exact for this T)::

    T(theta, phi)^{-1} diag(d1, d2) = diag(-e^{-i(theta+phi)} d2, -e^{-i theta} d2) T(theta, arg d1 - arg d2)

so the internal phase theta is unchanged, the external phase becomes the phase
difference of the two diagonal entries, and a new diagonal moves on. Reck
(triangular ``reck(n)`` layout) uses input-side nulling only: rows are cleared
bottom-up, each left to right, and D is already the output screen.

Every MZI the nulling produces is placed in the earliest (input-side group) or
latest (output-side group) brick-wall column its two ports allow; the placement
must reproduce the MeshSpec's sites exactly, which is checked on every call.
"""

from __future__ import annotations

import numpy as np

from .mesh_spec import MeshSpec

UNITARY_TOL = 1e-8
TWO_PI = 2.0 * np.pi

__all__ = ["decompose", "haar_unitary", "haar_phases", "fidelity", "mzi_matrix", "UNITARY_TOL"]


def mzi_matrix(theta: float, phi: float) -> np.ndarray:
    """2x2 transfer matrix T(theta, phi) of one MZI on (upper, lower) ports."""
    s, c = np.sin(theta / 2), np.cos(theta / 2)
    return 1j * np.exp(0.5j * theta) * np.array([[s * np.exp(1j * phi), c], [c * np.exp(1j * phi), -s]])


def decompose(U, spec: MeshSpec) -> np.ndarray:
    """Mesh parameters [theta_0, phi_0, ..., screen_0..screen_{N-1}] whose mesh equals U exactly.

    Phases are wrapped to [0, 2 pi); theta lands in [0, pi].
    """
    U = _check_unitary(U, spec.n_ports)
    if spec.topology == "clements":
        right, left, diag = _null_clements(U)
    elif spec.topology == "reck":
        right, left, diag = _null_reck(U)
    else:
        raise ValueError(f"decompose supports topologies 'clements' and 'reck', got {spec.topology!r}")

    # Push D out through L_k^{-1}, ..., L_1^{-1} (L_k is next to D).
    out_side = []
    for row, theta, phi in reversed(left):
        d1, d2 = diag[row], diag[row + 1]
        diag[row] = -np.exp(-1j * (theta + phi)) * d2
        diag[row + 1] = -np.exp(-1j * theta) * d2
        out_side.append((row, theta, np.angle(d1) - np.angle(d2)))
    out_side.reverse()  # out_side[0] is now the output-most MZI (from L_1)

    placed = _place(right, out_side, spec)
    params = np.empty(spec.n_params)
    index = {(m.column, m.row): k for k, m in enumerate(spec.mzis)}
    for (col, row), (theta, phi) in placed.items():
        k = index[(col, row)]
        params[2 * k] = theta
        params[2 * k + 1] = phi
    params[2 * spec.n_mzis :] = np.angle(diag)
    params = np.mod(params, TWO_PI)
    params[params >= TWO_PI] = 0.0  # mod of a tiny negative rounds up to exactly 2 pi
    return params


def _null_clements(U: np.ndarray):
    """Clements nulling; returns input-side MZIs (applied order), output-side MZIs (L_1 first), diagonal."""
    n = U.shape[0]
    right, left = [], []
    for d in range(n - 1):
        if d % 2 == 0:
            for j in range(d + 1):
                right.append(_null_from_input(U, n - 1 - j, d - j))
        else:
            for j in range(d + 1):
                left.append(_null_from_output(U, n - 1 - d + j, j))
    return right, left, np.diag(U).copy()


def _null_reck(U: np.ndarray):
    """Reck nulling from the input side only: rows bottom-up, each left to right."""
    n = U.shape[0]
    right = []
    for i in range(n - 1, 0, -1):
        for j in range(i):
            right.append(_null_from_input(U, i, j))
    return right, [], np.diag(U).copy()


def _null_from_input(U: np.ndarray, i: int, j: int):
    """Zero U[i, j] in place by U <- U T^{-1} on columns (j, j+1); returns (row=j, theta, phi)."""
    x, y = U[i, j], U[i, j + 1]
    theta = 2.0 * np.arctan2(abs(y), abs(x))
    phi = np.angle(x) - np.angle(y) - np.pi
    tinv = mzi_matrix(theta, phi).conj().T
    U[:, j : j + 2] = U[:, j : j + 2] @ tinv
    U[i, j] = 0.0
    return j, theta, phi


def _null_from_output(U: np.ndarray, i: int, j: int):
    """Zero U[i, j] in place by U <- T U on rows (i-1, i); returns (row=i-1, theta, phi)."""
    a, b = U[i - 1, j], U[i, j]
    theta = 2.0 * np.arctan2(abs(a), abs(b))
    phi = np.angle(b) - np.angle(a)
    U[i - 1 : i + 1, :] = mzi_matrix(theta, phi) @ U[i - 1 : i + 1, :]
    U[i, j] = 0.0
    return i - 1, theta, phi


def _place(input_side, output_side, spec: MeshSpec) -> dict:
    """Assign brick-wall columns to the nulled MZIs and check they are exactly the spec's sites.

    Input-side MZIs (in applied order) take the earliest free column of matching
    parity, output-side MZIs (output-most first) the latest. Overlapping MZIs keep
    their operator order, so the column product equals the nulled factorization.
    """
    n, n_cols = spec.n_ports, spec.n_columns
    front = [0] * n
    placed: dict = {}
    for row, theta, phi in input_side:
        col = max(front[row], front[row + 1])
        col += (col - row) % 2
        front[row] = front[row + 1] = col + 1
        placed[(col, row)] = (theta, phi)
    back = [n_cols - 1] * n
    for row, theta, phi in output_side:
        col = min(back[row], back[row + 1])
        col -= (col - row) % 2
        if col < max(front[row], front[row + 1]) or (col, row) in placed:
            raise RuntimeError(f"decompose: output-side MZI at row {row} collides with the input side")
        back[row] = back[row + 1] = col - 1
        placed[(col, row)] = (theta, phi)
    expected = {(m.column, m.row) for m in spec.mzis}
    if set(placed) != expected or len(placed) != spec.n_mzis:
        raise RuntimeError(
            f"decompose: nulling sites do not match the {spec.topology} MeshSpec for N={n} "
            f"(extra {sorted(set(placed) - expected)}, missing {sorted(expected - set(placed))})"
        )
    return placed


def _check_unitary(U, n: int) -> np.ndarray:
    U = np.array(U, dtype=np.complex128)
    if U.ndim != 2 or U.shape != (n, n):
        raise ValueError(f"expected a {n}x{n} unitary for this mesh, got shape {U.shape}")
    if not np.all(np.isfinite(U)):
        raise ValueError("matrix to decompose contains non-finite entries")
    err = float(np.max(np.abs(U.conj().T @ U - np.eye(n))))
    if err > UNITARY_TOL:
        raise ValueError(f"matrix is not unitary: max|U^H U - I| = {err:.3e} > {UNITARY_TOL:g}")
    return U


def haar_unitary(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Haar-random n x n unitary (QR of a complex Ginibre matrix with the R-diagonal phase fixed)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"haar_unitary needs a positive integer size, got {n!r}")
    rng = np.random.default_rng(rng)
    z = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / np.sqrt(2.0)
    q, r = np.linalg.qr(z)
    d = np.diag(r)
    return q * (d / np.abs(d))


def haar_phases(spec: MeshSpec, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Mesh phases whose unitary is Haar-distributed: the decomposition of a Haar-random unitary.

    Exact in distribution for any topology ``decompose`` supports (unlike per-MZI
    theta sampling, which is specific to the mesh layout); about 25 ms for N=64.
    """
    return decompose(haar_unitary(spec.n_ports, rng), spec)


def fidelity(U, V) -> float:
    """|tr(U^H V)|^2 / N^2: 1 iff V equals U up to a global phase."""
    U, V = np.asarray(U), np.asarray(V)
    if U.ndim != 2 or U.shape[0] != U.shape[1] or U.shape != V.shape:
        raise ValueError(f"fidelity needs two square matrices of equal shape, got {U.shape} and {V.shape}")
    n = U.shape[0]
    return float(np.abs(np.trace(U.conj().T @ V)) ** 2 / n**2)


def initial_phases(spec: MeshSpec, init: str, rng: np.random.Generator) -> np.ndarray:
    """A mesh's starting phases: ``haar`` (a Haar-random unitary), ``identity`` (every MZI in bar) or ``uniform``."""
    if init == "haar":
        return haar_phases(spec, rng)
    if init == "identity":
        params = np.zeros(spec.n_params)
        params[0 : 2 * spec.n_mzis : 2] = np.pi
        return params
    return rng.uniform(0, 2 * np.pi, spec.n_params)
