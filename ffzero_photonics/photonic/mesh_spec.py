"""Topology of an N-port MZI mesh: which MZI sits where, and the name of every heater.

One ``MeshSpec`` drives everything downstream: the sax netlist, the compiled
fast path, the decomposition of a target unitary and the GDS layout. It is
plain data.

Conventions (fixed project-wide):
- ports are numbered 0..N-1 from the top; an MZI at ``row`` r couples ports r and r+1;
- an MZI has an external heater ``phi`` on its upper input arm (port r) and an
  internal heater ``theta`` on its upper internal arm;
- after the last column, an output phase screen puts one heater on every port;
- the parameter vector of a mesh is [theta_0, phi_0, theta_1, phi_1, ..., screen_0..screen_{N-1}]
  in ``mzis`` order, which is column-major (column, then row).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

TOPOLOGIES = ("clements", "reck")


@dataclass(frozen=True)
class MZISite:
    """One MZI: its column in the mesh and the upper of the two ports it couples."""

    column: int
    row: int

    @property
    def name(self) -> str:
        return f"mzi_c{self.column}_r{self.row}"

    @property
    def heaters(self) -> tuple[str, str]:
        return (f"{self.name}_theta", f"{self.name}_phi")


@dataclass(frozen=True)
class MeshSpec:
    """An N-port mesh of N(N-1)/2 MZIs in columns plus an output phase screen."""

    topology: str
    n_ports: int
    mzis: tuple[MZISite, ...]

    @property
    def n_mzis(self) -> int:
        return len(self.mzis)

    @property
    def n_columns(self) -> int:
        return 1 + max((m.column for m in self.mzis), default=-1)

    @property
    def n_params(self) -> int:
        return 2 * self.n_mzis + self.n_ports

    @cached_property
    def screen_heaters(self) -> tuple[str, ...]:
        return tuple(f"screen_p{k}_phi" for k in range(self.n_ports))

    @cached_property
    def heater_names(self) -> tuple[str, ...]:
        """Names aligned with the parameter vector."""
        names: list[str] = []
        for m in self.mzis:
            names.extend(m.heaters)
        return tuple(names) + self.screen_heaters

    def columns(self) -> list[list[MZISite]]:
        cols: list[list[MZISite]] = [[] for _ in range(self.n_columns)]
        for m in self.mzis:
            cols[m.column].append(m)
        return cols

    def split_params(self, params):
        """(theta[n_mzis], phi[n_mzis], screen[N]) views of a parameter vector (last axis)."""
        n = self.n_mzis
        return params[..., 0 : 2 * n : 2], params[..., 1 : 2 * n : 2], params[..., 2 * n :]

    def to_dict(self) -> dict:
        return {"topology": self.topology, "n_ports": self.n_ports}


def clements(n_ports: int) -> MeshSpec:
    """Rectangular mesh (Clements et al. 2016): N columns, alternating even/odd rows."""
    _check_ports(n_ports)
    sites = [
        MZISite(c, r) for c in range(n_ports) for r in range(c % 2, n_ports - 1, 2)
    ]
    return MeshSpec("clements", n_ports, tuple(sites))


def reck(n_ports: int) -> MeshSpec:
    """Triangular mesh (Reck et al. 1994) laid out in 2N-3 columns.

    Port pair (0,1) carries N-1 MZIs, pair (N-2, N-1) one: the triangle's apex
    is the middle column.
    """
    _check_ports(n_ports)
    last = 2 * n_ports - 4
    sites = [
        MZISite(c, r)
        for c in range(max(last + 1, 1))
        for r in range(c % 2, n_ports - 1, 2)
        if r <= c and r <= last - c
    ]
    return MeshSpec("reck", n_ports, tuple(sites))


def build_mesh(topology: str, n_ports: int) -> MeshSpec:
    """Mesh by topology name."""
    if topology not in TOPOLOGIES:
        raise ValueError(f"unknown mesh topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")
    return clements(n_ports) if topology == "clements" else reck(n_ports)


def _check_ports(n_ports: int) -> None:
    if not isinstance(n_ports, int) or n_ports < 2:
        raise ValueError(f"a mesh needs an integer number of ports >= 2, got {n_ports!r}")
