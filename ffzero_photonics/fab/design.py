"""The exported design a virtual fab draws instances of: a trained run, its drawn GDS and the heater table that drives it.

``load_design(run_dir, gds_path)`` reads the GDS back once (``layouts.extract``), finds the phase each table row
really drives (``tapeout.drive``), the drawn lengths of every route and cell path (``tapeout.paths``) and the drawn
heater positions (its heater labels), and evaluates the drawn chip at the design point, as ``ffzero signoff`` does
at its nominal corner: the accuracy every instance is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import extract_layout, heater_positions
from ffzero_photonics.photonic.mesh_spec import MeshSpec
from ffzero_photonics.photonic.netlist import WL0
from ffzero_photonics.photonic.physical import CROSSTALK_FLOOR, Physics
from ffzero_photonics.photonic.physics.thermal import crosstalk_matrix
from ffzero_photonics.tapeout.drive import heater_drive
from ffzero_photonics.tapeout.layout_network import LayoutNetwork
from ffzero_photonics.tapeout.paths import LayerPaths, cell_paths, layer_paths
from ffzero_photonics.tapeout.signoff import drive_params, layer_unitary
from ffzero_photonics.tapeout.verify import open_export

__all__ = ["FabDesign", "load_design"]

SPARSE_BELOW = 0.5  # fraction of non-zero crosstalk couplings under which K is kept sparse


@dataclass
class FabDesign:
    """Everything an instance of the drawn chip needs, read once: the run, the drawn paths, positions and drives."""

    run_dir: str
    gds_path: str
    heater_csv: str
    model: Any  # the run's chip: encoder, activations, input power and readout of every instance
    data: Any
    trainer: Any  # the run's trainer: its objectives score every instance
    specs: list[MeshSpec]
    paths: list[LayerPaths]
    drives: list[np.ndarray]  # the heater table's phases per layer, MeshSpec order
    positions: list[dict[str, tuple[float, float]]]  # per layer: heater name (MeshSpec) -> drawn (x, y) µm
    physics: Physics  # the run's physics tables (a paper chip: the defaults, for its heaters, thermal and clock)
    physical: bool
    amplitudes: list[float]  # each mesh's budget loss amplitude (1 on a paper chip)
    crosstalk: list  # per layer: thermal coupling K over the drawn positions (CSR when sparse; None: kappa = 0)
    exported_accuracy: float  # test accuracy of the drawn chip driven by its table at the design point
    warnings: list[str]

    @property
    def n_layers(self) -> int:
        return len(self.specs)

    def accuracy(self, unitaries: list[np.ndarray]) -> float:
        """Test accuracy of the run's network with every mesh replaced by ``unitaries`` (loss included)."""
        return float(self.trainer.evaluate(LayoutNetwork(self.model, unitaries), self.data, "test")["test_accuracy"])


@lru_cache(maxsize=2)
def load_design(run_dir: str | Path, gds_path: str | Path, heater_csv: str | Path | None = None) -> FabDesign:
    """The :class:`FabDesign` of run ``run_dir`` exported as ``gds_path`` (table: ``<stem>_heaters.csv`` beside it).

    Refuses a GDS of another chip (other layer count or port count) and a table that does not drive this GDS's heaters.
    Cached per process (a worker draws many instances of one design).
    """
    run_dir, gds_path, heater_csv, rows, (spec, data, model, trainer) = open_export(run_dir, gds_path, heater_csv)
    specs = list(model.specs)
    extraction = extract_layout(gds_path, n_layers=model.n_layers)
    if len(extraction.layers) != model.n_layers or extraction.n_ports != specs[0].n_ports:
        raise UserInputError(f"--gds: {gds_path} is another chip: {extraction.summary()}, the run has "
                             f"{model.n_layers} layer(s) of N={specs[0].n_ports}")
    drive, drive_errors = heater_drive(extraction, rows)
    if drive_errors:
        raise UserInputError(f"--heaters: {heater_csv} does not drive {gds_path.name}: {drive_errors[0]} "
                             f"({len(drive_errors)} problem(s); run `ffzero verify`)")
    by_inst = cell_paths(extraction)
    paths = [layer_paths(extraction, specs, l, by_inst) for l in range(model.n_layers)]
    drives = [drive_params(extraction, s, l, drive) for l, s in enumerate(specs)]
    labels = heater_positions(extraction.component)
    positions = []
    for l, s in enumerate(specs):
        pre = f"L{l}_" if extraction.prefixed else ""
        missing = [h for h in s.heater_names if pre + h not in labels]
        if missing:
            raise UserInputError(f"--gds: {gds_path} has no heater label {pre + missing[0]!r} ({len(missing)} missing)")
        positions.append({h: labels[pre + h] for h in s.heater_names})
    physics = getattr(model, "physics", None) or Physics()
    physical = getattr(model, "physical", None)
    thermal = physics.thermal
    crosstalk = [_sparse_if_sparse(crosstalk_matrix(s.heater_names, pos, thermal, floor=CROSSTALK_FLOOR))
                 if thermal.effective_kappa > 0 else None for s, pos in zip(specs, positions)]
    amplitudes = [physical.loss_amplitude(l) if physical is not None else 1.0 for l in range(model.n_layers)]
    design = FabDesign(
        run_dir=str(run_dir), gds_path=str(gds_path), heater_csv=str(heater_csv), model=model, data=data,
        trainer=trainer, specs=specs, paths=paths, drives=drives, positions=positions,
        physics=physics, physical=physical is not None, amplitudes=amplitudes, crosstalk=crosstalk,
        exported_accuracy=float("nan"), warnings=list(extraction.errors),
    )
    nominal = [layer_unitary(s, p, lp, WL0, layer=l) * a
               for l, (s, p, lp, a) in enumerate(zip(specs, drives, paths, amplitudes))]
    design.exported_accuracy = design.accuracy(nominal)
    return design


def _sparse_if_sparse(K: np.ndarray):
    """K as a CSR matrix when most couplings are below the floor (a large die), else dense."""
    return sparse.csr_matrix(K) if np.count_nonzero(K) < SPARSE_BELOW * K.size else K
