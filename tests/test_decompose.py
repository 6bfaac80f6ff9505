"""Decomposition of unitaries into Clements / Reck meshes, Haar sampling, fidelity."""

import itertools

import numpy as np
import pytest

from ffzero_photonics.photonic.decompose import (
    decompose,
    fidelity,
    haar_phases,
    haar_unitary,
    mzi_matrix,
)
from ffzero_photonics.photonic.mesh_spec import MeshSpec, build_mesh

BS = np.array([[1, 1j], [1j, 1]]) / np.sqrt(2)
TOPOLOGIES = ("clements", "reck")


def _T(theta, phi):
    return BS @ np.diag([np.exp(1j * theta), 1]) @ BS @ np.diag([np.exp(1j * phi), 1])


def _mesh_unitary(spec: MeshSpec, params) -> np.ndarray:
    """Reference mesh: diag(e^{i s}) Col_{C-1} ... Col_0, built from the BS products directly."""
    theta, phi, screen = spec.split_params(np.asarray(params))
    index = {m: k for k, m in enumerate(spec.mzis)}
    n = spec.n_ports
    U = np.eye(n, dtype=complex)
    for column in spec.columns():
        C = np.eye(n, dtype=complex)
        for m in column:
            k = index[m]
            C[m.row : m.row + 2, m.row : m.row + 2] = _T(theta[k], phi[k])
        U = C @ U
    return np.exp(1j * screen)[:, None] * U


def _assert_round_trip(U, spec):
    params = decompose(U, spec)
    assert params.shape == (spec.n_params,)
    V = _mesh_unitary(spec, params)
    assert np.max(np.abs(V - U)) < 1e-9
    assert fidelity(U, V) > 1 - 1e-10
    return params


def test_mzi_matrix_matches_convention():
    rng = np.random.default_rng(0)
    for theta, phi in rng.uniform(0, 2 * np.pi, (5, 2)):
        assert np.allclose(mzi_matrix(theta, phi), _T(theta, phi), atol=1e-14)
    assert np.allclose(np.abs(mzi_matrix(0.0, 0.3)), [[0, 1], [1, 0]], atol=1e-14)  # cross
    assert np.allclose(np.abs(mzi_matrix(np.pi, 0.3)), np.eye(2), atol=1e-14)  # bar


def test_diagonal_commuting_identity():
    rng = np.random.default_rng(1)
    for theta, phi, a1, a2 in rng.uniform(-np.pi, 2 * np.pi, (10, 4)):
        d1, d2 = np.exp(1j * a1), np.exp(1j * a2)
        lhs = np.linalg.inv(_T(theta, phi)) @ np.diag([d1, d2])
        rhs = np.diag([-np.exp(-1j * (theta + phi)) * d2, -np.exp(-1j * theta) * d2]) @ _T(theta, a1 - a2)
        assert np.allclose(lhs, rhs, atol=1e-13)


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_haar(topology, n, seed):
    spec = build_mesh(topology, n)
    params = _assert_round_trip(haar_unitary(n, seed), spec)
    theta, _, _ = spec.split_params(params)
    assert np.all((params >= 0) & (params < 2 * np.pi))
    assert np.all(theta <= np.pi + 1e-12)


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [2, 3, 6, 9])
def test_round_trip_permutations_and_identity(topology, n):
    spec = build_mesh(topology, n)
    rng = np.random.default_rng(n)
    mats = [np.eye(n), np.eye(n)[::-1], np.diag(np.exp(1j * rng.uniform(0, 2 * np.pi, n)))]
    mats += [np.eye(n)[rng.permutation(n)] for _ in range(3)]
    mats += [1j * np.eye(n)[rng.permutation(n)] * np.exp(1j * rng.uniform(0, 6, n)) for _ in range(2)]
    for U in mats:
        _assert_round_trip(U, spec)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_all_permutations_n4(topology):
    spec = build_mesh(topology, 4)
    for perm in itertools.permutations(range(4)):
        _assert_round_trip(np.eye(4)[list(perm)], spec)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_reprograms_random_mesh(topology):
    spec = build_mesh(topology, 7)
    rng = np.random.default_rng(3)
    U = _mesh_unitary(spec, rng.uniform(0, 2 * np.pi, spec.n_params))
    _assert_round_trip(U, spec)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_round_trip_large(topology):
    n = 25
    spec = build_mesh(topology, n)
    _assert_round_trip(haar_unitary(n, 7), spec)


def test_rejects_bad_input():
    spec = build_mesh("clements", 4)
    with pytest.raises(ValueError, match="not unitary"):
        decompose(np.ones((4, 4)), spec)
    with pytest.raises(ValueError, match="not unitary"):
        decompose(haar_unitary(4, 0) * (1 + 1e-6), spec)
    with pytest.raises(ValueError, match="shape"):
        decompose(np.eye(5), spec)
    with pytest.raises(ValueError, match="shape"):
        decompose(np.eye(4)[:3], spec)
    with pytest.raises(ValueError, match="shape"):
        decompose(np.eye(4).ravel(), spec)
    with pytest.raises(ValueError, match="non-finite"):
        decompose(np.full((4, 4), np.nan), spec)
    bogus = MeshSpec("butterfly", 4, build_mesh("clements", 4).mzis)
    with pytest.raises(ValueError, match="butterfly"):
        decompose(np.eye(4), bogus)


def test_accepts_nearly_unitary_within_tolerance():
    spec = build_mesh("reck", 5)
    U = haar_unitary(5, 4)
    params = decompose(U * (1 + 1e-10), spec)
    assert fidelity(U, _mesh_unitary(spec, params)) > 1 - 1e-10


def test_haar_unitary_is_unitary_and_seeded():
    U = haar_unitary(16, 5)
    assert np.allclose(U.conj().T @ U, np.eye(16), atol=1e-12)
    assert np.array_equal(U, haar_unitary(16, np.random.default_rng(5)))
    assert not np.allclose(U, haar_unitary(16, 6))
    with pytest.raises(ValueError):
        haar_unitary(0, 0)


def _moments(mats):
    p = np.abs(np.asarray(mats)) ** 2
    return p.mean(axis=0), (p**2).mean(axis=0)


def test_haar_unitary_statistics():
    n, samples = 4, 3000
    rng = np.random.default_rng(10)
    m2, m4 = _moments([haar_unitary(n, rng) for _ in range(samples)])
    assert np.allclose(m2, 1 / n, atol=0.02)
    assert np.allclose(m4, 2 / (n * (n + 1)), atol=0.02)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_haar_phases_statistics(topology):
    n, samples = 4, 3000
    spec = build_mesh(topology, n)
    rng = np.random.default_rng(11)
    m2, m4 = _moments([_mesh_unitary(spec, haar_phases(spec, rng)) for _ in range(samples)])
    # Haar: E|U_ij|^2 = 1/N, E|U_ij|^4 = 2/(N(N+1)) for every entry (std of the means ~0.004)
    assert np.allclose(m2, 1 / n, atol=0.02)
    assert np.allclose(m4, 2 / (n * (n + 1)), atol=0.02)


def test_uniform_phases_are_not_haar():
    """The statistics test above has power: uniform per-MZI theta is visibly non-Haar."""
    n, samples = 4, 3000
    spec = build_mesh("reck", n)
    rng = np.random.default_rng(12)
    m2, _ = _moments([_mesh_unitary(spec, rng.uniform(0, 2 * np.pi, spec.n_params)) for _ in range(samples)])
    assert np.max(np.abs(m2 - 1 / n)) > 0.05


def test_haar_phases_n64():
    spec = build_mesh("clements", 64)
    params = haar_phases(spec, 0)
    assert params.shape == (spec.n_params,)
    assert np.array_equal(params, haar_phases(spec, 0))


def test_fidelity():
    U = haar_unitary(6, 0)
    assert fidelity(U, np.exp(0.7j) * U) == pytest.approx(1.0, abs=1e-12)
    assert fidelity(U, haar_unitary(6, 1)) < 0.9
    assert fidelity(np.eye(2), np.diag([1, -1])) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError):
        fidelity(np.eye(3), np.eye(4))


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_matches_compiled_mesh(topology):
    """Contract check against the fast path (numpy, float64)."""
    from ffzero_photonics.photonic.compiled import CompiledMesh

    spec = build_mesh(topology, 6)
    U = haar_unitary(6, 9)
    V = CompiledMesh(spec).unitary(decompose(U, spec))
    assert np.max(np.abs(V - U)) < 1e-10
