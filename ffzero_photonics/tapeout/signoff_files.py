"""The files of a sign-off: ``signoff.json`` (the report) and ``signoff.png`` (1 - F and accuracy vs wavelength per corner)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ffzero_photonics.tapeout.signoff import SignoffReport

__all__ = ["atomic_write", "plot_signoff", "write_signoff"]


def plot_signoff(report: SignoffReport, path: str | os.PathLike) -> Path:
    """Two panels over detuning (nm): the worst layer's 1 - F (log) and the test accuracy, one line per corner."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_f, ax_a = fig.subplots(1, 2)
    detune = 1e3 * (np.asarray(report.wavelengths) - 1.55)
    for corner in report.corners:
        name = corner["name"]
        ax_f.plot(detune, np.maximum(report.worst_infidelity(name), 1e-16), marker=".", label=name)
        ax_a.plot(detune, report.accuracy[name], marker=".", label=name)
    ax_f.set(yscale="log", xlabel="detuning from 1.55 µm (nm)", ylabel="1 - F (worst layer)",
             title="transfer-matrix fidelity of the drawn chip")
    ax_a.axhline(report.trained_accuracy, color="k", lw=0.8, ls="--", label="trained")
    ax_a.set(xlabel="detuning from 1.55 µm (nm)", ylabel="test accuracy", title="accuracy through the layout")
    ax_a.legend(fontsize=7, loc="lower left")
    paths = "routes and cell paths" if report.include_cells else "routes only"
    fig.suptitle(f"sign-off of {Path(report.gds_path).name}: {paths}", fontsize=9)
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def write_signoff(report: SignoffReport, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``signoff.json`` and ``signoff.png`` into ``directory`` (each atomically); returns their paths."""
    directory = Path(directory)
    text = json.dumps(report.to_dict(), indent=2)
    json_path = atomic_write(directory / "signoff.json", lambda tmp: tmp.write_text(text))
    return json_path, plot_signoff(report, directory / "signoff.png")


def atomic_write(path: Path, write) -> Path:
    """``write(tmp)`` into a temporary beside ``path``, then rename: a reader never sees half a file."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
