"""Fixtures shared by test modules."""

import pytest

from ffzero_photonics.runs import RunSpec, train_run
from ffzero_photonics.tapeout import export_run
from ffzero_photonics.trainer import TrainConfig


@pytest.fixture(scope="session")
def exported_physical_run(tmp_path_factory):
    """A 2-layer N=4 physical chip (examples/chip.toml's tables) trained one epoch on iris, exported with export_run:
    (run dir, export result)."""
    root = tmp_path_factory.mktemp("physical")
    spec = RunSpec(model="photonic", model_options={"model": "physical", "ports": 4, "layers": 2}, dataset="iris",
                   train=TrainConfig(paradigm="ffzero", epochs=1, batch_size=64))
    train_run(spec, root / "run", progress=False, log=lambda m: None)
    result, _ = export_run(root / "run", root / "chip.gds")
    return root / "run", result
