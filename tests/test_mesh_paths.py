"""Two simulation paths, one answer: the sax netlist and the compiled mesh (numpy and jax)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ffzero_photonics.photonic.compiled import CompiledMesh
from ffzero_photonics.photonic.mesh_spec import build_mesh
from ffzero_photonics.photonic.netlist import mesh_netlist, mesh_settings, netlist_unitary

TOPOLOGIES = ("clements", "reck")


def random_params(spec, rng, m=None):
    shape = (spec.n_params,) if m is None else (m, spec.n_params)
    return rng.uniform(0, 2 * np.pi, shape)


def identity_params(spec):
    p = np.zeros(spec.n_params)
    p[0 : 2 * spec.n_mzis : 2] = np.pi
    return p


def nonideal(spec, rng):
    return rng.uniform(0.45, 0.55, (spec.n_mzis, 2)), rng.uniform(0.0, 0.6, spec.n_mzis)


# netlist structure -----------------------------------------------------


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [2, 3, 5, 6])
def test_mesh_netlist_structure(topology, n):
    spec = build_mesh(topology, n)
    net = mesh_netlist(spec)
    comps = [i["component"] for i in net["instances"].values()]
    assert comps.count("mzi") == spec.n_mzis == n * (n - 1) // 2
    assert comps.count("heater") == n
    assert set(net["ports"]) == {f"in{k}" for k in range(n)} | {f"out{k}" for k in range(n)}
    for site in spec.mzis:
        assert net["instances"][site.name] == {"component": "mzi"}
    # every MZI input and output port and every screen input is used exactly once
    used = list(net["connections"]) + list(net["connections"].values()) + list(net["ports"].values())
    assert len(used) == len(set(used)) == 4 * spec.n_mzis + 2 * n

    wg = mesh_netlist(spec, with_waveguides=True)
    names = [k for k, v in wg["instances"].items() if v["component"] == "waveguide"]
    assert all(k.startswith("wg_p") for k in names)
    # one waveguide per link between consecutive elements: 2 per MZI, plus N into the screen, minus N inputs
    assert len(names) == 2 * spec.n_mzis
    assert {f"wg_p{k}_c{spec.n_columns}" for k in range(n)} <= set(names)


def test_mesh_settings_validation():
    spec = build_mesh("clements", 3)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        mesh_settings(spec, np.zeros(5))
    with pytest.raises(ValueError, match="coupling"):
        mesh_settings(spec, np.zeros(spec.n_params), coupling=np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="1.5"):
        mesh_settings(spec, np.zeros(spec.n_params), coupling=1.5)
    with pytest.raises(ValueError, match="wg_p9_c9"):
        mesh_settings(spec, np.zeros(spec.n_params), with_waveguides=True, waveguides={"wg_p9_c9": {}})
    with pytest.raises(ValueError, match="without waveguides"):
        mesh_settings(spec, np.zeros(spec.n_params), with_waveguides=False, waveguides={"wg_p0_c3": {"length": 1.0}})


# netlist path ----------------------------------------------------------


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
def test_netlist_lossless_mesh_is_unitary_and_matches_compiled(topology, n):
    rng = np.random.default_rng(n + 10 * len(topology))
    spec = build_mesh(topology, n)
    p = random_params(spec, rng)
    u = netlist_unitary(spec, p)
    np.testing.assert_allclose(u @ u.conj().T, np.eye(n), atol=1e-10)
    np.testing.assert_allclose(CompiledMesh(spec).unitary(p), u, atol=1e-10)


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [3, 5, 8])
def test_compiled_matches_netlist_nonideal(topology, n):
    rng = np.random.default_rng(100 + n)
    spec = build_mesh(topology, n)
    coupling, loss = nonideal(spec, rng)
    p = random_params(spec, rng)
    u_net = netlist_unitary(spec, p, coupling=coupling, mzi_loss_dB=loss)
    u_fast = CompiledMesh(spec, coupling=coupling, mzi_loss_dB=loss).unitary(p)
    np.testing.assert_allclose(u_fast, u_net, atol=1e-10)
    assert np.linalg.norm(u_net - CompiledMesh(spec).unitary(p)) > 1e-3  # the imperfections matter


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_identity_setting_is_diagonal(topology):
    spec = build_mesh(topology, 5)
    p = identity_params(spec)
    for u in (netlist_unitary(spec, p), CompiledMesh(spec).unitary(p)):
        np.testing.assert_allclose(np.abs(np.diag(u)), 1.0, atol=1e-12)
        np.testing.assert_allclose(u - np.diag(np.diag(u)), 0.0, atol=1e-12)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_loss_attenuates_by_the_right_amount(topology):
    """In the bar state, port k loses exactly the summed dB of the MZIs on its row."""
    rng = np.random.default_rng(7)
    spec = build_mesh(topology, 5)
    loss = rng.uniform(0.1, 0.5, spec.n_mzis)
    per_port = np.zeros(spec.n_ports)
    for i, site in enumerate(spec.mzis):
        per_port[[site.row, site.row + 1]] += loss[i]
    p = identity_params(spec)
    for u in (netlist_unitary(spec, p, mzi_loss_dB=loss), CompiledMesh(spec, mzi_loss_dB=loss).unitary(p)):
        np.testing.assert_allclose(np.abs(np.diag(u)) ** 2, 10 ** (-per_port / 10), rtol=1e-10)
    # any setting: output power of every input lies between the best and worst row's loss
    cm = CompiledMesh(spec, mzi_loss_dB=loss)
    x = rng.normal(size=(20, 5)) + 1j * rng.normal(size=(20, 5))
    y = cm.propagate(random_params(spec, rng, 4), x)
    ratio = np.sum(np.abs(y) ** 2, -1) / np.sum(np.abs(x) ** 2, -1)
    assert np.all(ratio < 1.0)
    total = 10 ** (-loss.sum() / 10)
    assert np.all(ratio > total)


def test_netlist_waveguides_zero_length_and_common_phase():
    spec = build_mesh("clements", 3)
    rng = np.random.default_rng(3)
    p = random_params(spec, rng)
    u = netlist_unitary(spec, p)
    np.testing.assert_allclose(netlist_unitary(spec, p, with_waveguides=True), u, atol=1e-12)
    length = 13.0
    last = {f"wg_p{k}_c{spec.n_columns}": {"length": length} for k in range(3)}
    u_wg = netlist_unitary(spec, p, waveguides=last)  # with_waveguides inferred
    np.testing.assert_allclose(u_wg, np.exp(2j * np.pi * 2.34 * length / 1.55) * u, atol=1e-12)


# compiled path ---------------------------------------------------------


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [2, 5, 8, 13])
def test_compiled_shapes_methods_and_unitarity(topology, n):
    rng = np.random.default_rng(n)
    spec = build_mesh(topology, n)
    cm = CompiledMesh(spec)
    params = random_params(spec, rng, 3)
    u = cm.unitary(params)
    assert u.shape == (3, n, n) and cm.unitary(params[0]).shape == (n, n)
    np.testing.assert_allclose(u[1], cm.unitary(params[1]), atol=1e-14)
    np.testing.assert_allclose(u @ np.conj(u.transpose(0, 2, 1)), np.broadcast_to(np.eye(n), u.shape), atol=1e-10)
    for b in (1, n, 4 * n):
        x = rng.normal(size=(b, n)) + 1j * rng.normal(size=(b, n))
        xm = rng.normal(size=(3, b, n)) + 0j
        ref = np.einsum("moi,bi->mbo", u, x)
        refm = np.einsum("moi,mbi->mbo", u, xm)
        for method in ("auto", "direct", "unitary"):
            np.testing.assert_allclose(cm.propagate(params, x, method=method), ref, atol=1e-12)
            np.testing.assert_allclose(cm.propagate(params, xm, method=method), refm, atol=1e-12)
            assert cm.propagate(params[0], x, method=method).shape == (b, n)
        np.testing.assert_allclose(cm.propagate(params, x[None]), ref, atol=1e-12)


def test_compiled_input_validation():
    cm = CompiledMesh(build_mesh("clements", 4))
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        cm.unitary(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        cm.propagate(np.zeros(cm.n_params), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="M=2"):
        cm.propagate(np.zeros((2, cm.n_params)), np.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match="'fast'"):
        cm.propagate(np.zeros(cm.n_params), np.zeros((2, 4)), method="fast")
    with pytest.raises(ValueError, match="mzi_loss_dB"):
        CompiledMesh(build_mesh("clements", 4), mzi_loss_dB=np.zeros(3))


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_jax_path_equals_numpy(topology):
    rng = np.random.default_rng(11)
    spec = build_mesh(topology, 6)
    coupling, loss = nonideal(spec, rng)
    cm = CompiledMesh(spec, coupling=coupling, mzi_loss_dB=loss)
    params = random_params(spec, rng, 3)
    x = rng.normal(size=(10, 6)) + 1j * rng.normal(size=(10, 6))
    np.testing.assert_allclose(np.asarray(cm.unitary_jax(jnp.asarray(params))), cm.unitary(params), atol=1e-12)
    np.testing.assert_allclose(np.asarray(cm.unitary_jax(jnp.asarray(params[0]))), cm.unitary(params[0]), atol=1e-12)
    prop = jax.jit(cm.propagate_jax, static_argnames="method")
    for method in ("direct", "unitary"):
        got = prop(jnp.asarray(params), jnp.asarray(x), method=method)
        np.testing.assert_allclose(np.asarray(got), cm.propagate(params, x), atol=1e-12)
    got = cm.propagate_jax(jnp.asarray(params[0]), jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), cm.propagate(params[0], x), atol=1e-12)


@pytest.mark.parametrize("method", ["direct", "unitary"])
def test_jax_gradient_matches_finite_differences(method):
    rng = np.random.default_rng(5)
    spec = build_mesh("clements", 4)
    coupling, loss = nonideal(spec, rng)
    cm = CompiledMesh(spec, coupling=coupling, mzi_loss_dB=loss)
    x = rng.normal(size=(6, 4)) + 1j * rng.normal(size=(6, 4))
    w = rng.normal(size=(6, 4))

    def loss_np(p):
        return float(np.sum(w * np.abs(cm.propagate(p, x)) ** 2))

    def loss_jax(p):
        return jnp.sum(w * jnp.abs(cm.propagate_jax(p, jnp.asarray(x), method=method)) ** 2)

    p = random_params(spec, rng)
    grad = np.asarray(jax.jit(jax.grad(loss_jax))(jnp.asarray(p)))
    h = 1e-6
    fd = np.array([(loss_np(p + h * e) - loss_np(p - h * e)) / (2 * h) for e in np.eye(spec.n_params)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_netlist_at_two_wavelengths_includes_routes_and_equals_compiled(topology):
    """At 1.55 and 1.56 um the routed netlist (MMIs, heaters ~ 1/wl, waveguides) equals the compiled mesh given
    ``compiled_at_wavelength``; lossless it stays unitary, and 10 nm away it is another matrix."""
    from ffzero_photonics.photonic.netlist import compiled_at_wavelength

    spec = build_mesh(topology, 4)
    rng = np.random.default_rng(3)
    p = random_params(spec, rng)
    coupling = rng.uniform(0.46, 0.54, (spec.n_mzis, 2))
    names = [k for k in mesh_netlist(spec, with_waveguides=True)["instances"] if k.startswith("wg_")]
    lengths = {name: float(rng.uniform(5.0, 80.0)) for name in names}
    unitaries = {}
    for wl in (1.55, 1.56):
        u_net = netlist_unitary(spec, p, coupling=coupling, wl=wl, waveguides={k: {"length": v} for k, v in lengths.items()})
        params_wl, kwargs = compiled_at_wavelength(spec, p, wl, coupling=coupling, lengths_um=lengths)
        np.testing.assert_allclose(CompiledMesh(spec, **kwargs).unitary(params_wl), u_net, atol=1e-10)
        np.testing.assert_allclose(u_net.conj().T @ u_net, np.eye(4), atol=1e-10)
        unitaries[wl] = u_net
    assert np.max(np.abs(unitaries[1.56] - unitaries[1.55])) > 1e-2
    with pytest.raises(ValueError, match="-1"):
        compiled_at_wavelength(spec, p, -1.0)
