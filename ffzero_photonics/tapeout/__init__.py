"""Tape-out: a mesh, chip or trained run to GDS + heater table + preview, and the post-layout check of such a bundle.

``export`` writes the bundle (phases compensated for routes and cell paths, :mod:`.paths`, for a trained run),
``heater_table`` reads and writes the heater CSV, ``verify`` drives the
extracted layout from the table, simulates it (``propagate``: numpy on the extracted graph; ``simulate``: the sax
netlist, its cross-check) and reports against the run, optionally over wavelength and corners (``signoff``).
"""

from ffzero_photonics.tapeout.export import ExportResult, export_chip, export_run
from ffzero_photonics.tapeout.verify import VerifyReport, verify_run

__all__ = ["ExportResult", "VerifyReport", "export_chip", "export_run", "verify_run"]
