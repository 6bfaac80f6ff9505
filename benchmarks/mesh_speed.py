"""Forward time of one mesh on a batch of inputs: numpy floor vs CompiledMesh vs jax vs sax netlist.

Run: ``python benchmarks/mesh_speed.py [--sizes 8 16 25 64] [--batch 256] [--netlist-max 16]``.
Prints markdown tables; every ratio is measured in the same run. BLAS is pinned
to one thread (unless already set) so that the floor's matmul is not at the
mercy of thread oversubscription on a shared machine.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import sax  # noqa: E402

from ffzero_photonics.components.models import MODELS  # noqa: E402
from ffzero_photonics.photonic.compiled import CompiledMesh  # noqa: E402
from ffzero_photonics.photonic.mesh_spec import MeshSpec, build_mesh  # noqa: E402
from ffzero_photonics.photonic.netlist import mesh_netlist, mesh_settings, netlist_unitary  # noqa: E402


def numpy_floor(spec: MeshSpec):
    """Hand-written reference: U built column by column on row pairs, then one matmul."""
    index = {m: i for i, m in enumerate(spec.mzis)}
    cols = []
    for col in spec.columns():
        up = np.array([m.row for m in col])
        cols.append((up, up + 1, np.array([index[m] for m in col])))
    n = spec.n_ports

    def forward(params, x):
        theta, phi, screen = spec.split_params(params)
        e, f = np.exp(1j * theta), np.exp(1j * phi)
        t11, t12, t21, t22 = 0.5 * (e - 1) * f, 0.5j * (e + 1), 0.5j * (e + 1) * f, 0.5 * (1 - e)
        u = np.eye(n, dtype=complex)
        for up, lo, i in cols:
            uu, ul = u[up], u[lo]
            u[up] = t11[i, None] * uu + t12[i, None] * ul
            u[lo] = t21[i, None] * uu + t22[i, None] * ul
        return x @ (np.exp(1j * screen)[:, None] * u).T

    return forward


def median_time(fn, min_total: float = 0.2, repeat: int = 7) -> float:
    """Median seconds per call over ``repeat`` timeit rounds of ~``min_total``/repeat seconds each."""
    timer = timeit.Timer(fn)
    number, took = timer.autorange()
    number = max(1, int(number * (min_total / repeat) / max(took, 1e-9)))
    return statistics.median(t / number for t in timer.repeat(repeat=repeat, number=number))


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def ratio(a, b) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}"


def forward_table(topology: str, sizes, batch: int, netlist_max: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    print(f"\n### Forward of one mesh setting on a batch of {batch} inputs ({topology}, median)\n")
    print("| N | (a) numpy floor | (b) CompiledMesh.propagate | (c) jax jit | (d) sax netlist | b/a | d/b | (c)/a |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        spec = build_mesh(topology, n)
        cm = CompiledMesh(spec)
        p = rng.uniform(0, 2 * np.pi, spec.n_params)
        x = rng.normal(size=(batch, n)) + 1j * rng.normal(size=(batch, n))
        floor = numpy_floor(spec)
        ref = floor(p, x)
        assert np.allclose(cm.propagate(p, x), ref, atol=1e-10)

        t_floor = median_time(lambda: floor(p, x))
        t_comp = median_time(lambda: cm.propagate(p, x))

        fj = jax.jit(cm.propagate_jax)
        pj, xj = jnp.asarray(p), jnp.asarray(x)
        assert np.allclose(np.asarray(fj(pj, xj)), ref, atol=1e-10)
        t_jax = median_time(lambda: fj(pj, xj).block_until_ready())

        t_net = None
        if n <= netlist_max:
            u = netlist_unitary(spec, p)  # builds and caches the sax circuit
            assert np.allclose(x @ u.T, ref, atol=1e-10)
            t_net = median_time(lambda: x @ netlist_unitary(spec, p).T, min_total=1.0, repeat=3)
        print(
            f"| {n} | {fmt(t_floor)} | {fmt(t_comp)} | {fmt(t_jax)} | {fmt(t_net)} | "
            f"{ratio(t_comp, t_floor)} | {ratio(t_net, t_comp)} | {ratio(t_jax, t_floor)} |"
        )
    print(f"\n(d) is the eager sax netlist (klu backend) evaluated only for N <= {netlist_max}: its circuit")
    print("build and per-call cost grow with the N(N-1)/2 MZI instances (N=25: 300 MZIs).")


def batched_table(topology: str, n: int, shapes, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    spec = build_mesh(topology, n)
    cm = CompiledMesh(spec)
    fj = jax.jit(cm.propagate_jax, static_argnames="method")
    print(f"\n### Training-shaped queries: M settings x B inputs ({topology}, N={n}, median)\n")
    print("| M | B | direct | unitary | auto picks | jax jit (auto) | floor looped over M |")
    print("|---|---|---|---|---|---|---|")
    floor = numpy_floor(spec)
    for m, b in shapes:
        params = rng.uniform(0, 2 * np.pi, (m, spec.n_params))
        x = rng.normal(size=(b, n)) + 0j
        t_d = median_time(lambda: cm.propagate(params, x, method="direct"))
        t_u = median_time(lambda: cm.propagate(params, x, method="unitary"))
        pj, xj = jnp.asarray(params), jnp.asarray(x)
        fj(pj, xj).block_until_ready()
        t_j = median_time(lambda: fj(pj, xj).block_until_ready())
        t_f = median_time(lambda: [floor(q, x) for q in params])
        pick = "direct" if b <= n else "unitary"
        print(f"| {m} | {b} | {fmt(t_d)} | {fmt(t_u)} | {pick} | {fmt(t_j)} | {fmt(t_f)} |")


def build_table(topology: str, n: int, batch: int) -> None:
    spec = build_mesh(topology, n)
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 2 * np.pi, spec.n_params)
    x = rng.normal(size=(batch, n)) + 0j
    rows = []
    rows.append(("CompiledMesh(spec) construction", median_time(lambda: CompiledMesh(spec))))
    cm = CompiledMesh(spec)
    t0 = time.perf_counter()
    jax.jit(cm.propagate_jax)(jnp.asarray(p), jnp.asarray(x)).block_until_ready()
    rows.append(("jax.jit(propagate_jax): trace + compile + first call", time.perf_counter() - t0))
    t0 = time.perf_counter()
    circuit, _ = sax.circuit(mesh_netlist(spec), models=MODELS, backend="klu")
    rows.append(("sax.circuit(mesh_netlist, backend='klu') build", time.perf_counter() - t0))
    settings = mesh_settings(spec, p)
    t0 = time.perf_counter()
    circuit(**settings)
    rows.append(("sax circuit first (eager) evaluation", time.perf_counter() - t0))
    t0 = time.perf_counter()
    circuit(**settings)
    rows.append(("sax circuit second (eager) evaluation", time.perf_counter() - t0))
    print(f"\n### Build / compile cost of a {n}-port {topology} mesh ({spec.n_mzis} MZIs), cold process\n")
    print("| step | time |")
    print("|---|---|")
    for name, t in rows:
        print(f"| {name} | {fmt(t)} |")


def sax_jit_table(topology: str, n: int) -> None:
    """jax.jit of the whole sax mesh circuit: compile cost vs per-call gain (small N only)."""
    spec = build_mesh(topology, n)
    p = np.random.default_rng(3).uniform(0, 2 * np.pi, spec.n_params)
    eager = median_time(lambda: netlist_unitary(spec, p), min_total=1.0, repeat=3)
    t0 = time.perf_counter()
    netlist_unitary(spec, p, jit=True)
    compile_s = time.perf_counter() - t0
    jitted = median_time(lambda: netlist_unitary(spec, p, jit=True))
    print(f"\n### sax netlist path, eager vs jax.jit of the whole circuit ({topology}, N={n})\n")
    print("| eager per call | jit compile (first call) | jitted per call |")
    print("|---|---|---|")
    print(f"| {fmt(eager)} | {fmt(compile_s)} | {fmt(jitted)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 25, 64])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--netlist-max", type=int, default=25, help="largest N for the sax netlist path")
    ap.add_argument("--topology", default="clements", choices=["clements", "reck"])
    ap.add_argument("--build-n", type=int, default=25)
    ap.add_argument("--no-batched", action="store_true", help="skip the M x B table")
    ap.add_argument("--sax-jit-n", type=int, default=8, help="N for the sax jit table (0 skips it)")
    args = ap.parse_args()
    print(f"numpy {np.__version__}, jax {jax.__version__}, sax {sax.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, cpus={os.cpu_count()}")
    build_table(args.topology, args.build_n, args.batch)  # first, so its costs are cold
    forward_table(args.topology, args.sizes, args.batch, args.netlist_max)
    if not args.no_batched:
        batched_table(args.topology, 25, [(1, 16), (32, 16), (32, 64), (8, 256)])
    if args.sax_jit_n:
        sax_jit_table(args.topology, args.sax_jit_n)


if __name__ == "__main__":
    main()
