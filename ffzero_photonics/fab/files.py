"""The files of a virtual fab run: ``fab.csv`` (one row per instance), ``fab.json`` (summary), ``yield.png``.

Each file is written to a temporary beside its destination and renamed only when all three succeeded.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

from .run import FabResult, yield_curve

__all__ = ["FAB_COLUMNS", "write_fab", "write_yield_png"]

FAB_COLUMNS = ("instance", "accuracy_before", "accuracy_after", "sample_queries", "calls", "settings", "lab_s", "wall_s")


def write_yield_png(result: FabResult, path: str | Path, title: str | None = None) -> None:
    """Yield curve: fraction of instances with test accuracy >= a, before and after in-situ training."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style in (("accuracy_before", "as fabricated (exported heater table)", "--"),
                              ("accuracy_after", f"after in-situ FFzero ({result.epochs} epochs/layer)", "-")):
        a, y = yield_curve([r[key] for r in result.rows])
        ax.step(a, y, style, where="post", label=label)
    ax.axvline(result.exported_accuracy, color="gray", lw=0.8, ls=":", label=f"drawn design {result.exported_accuracy:.3f}")
    ax.set_xlabel("test accuracy threshold a")
    ax.set_ylabel("yield: fraction of instances >= a")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title or f"{len(result.rows)} fabricated instances of {Path(result.gds_path).name}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def write_fab(result: FabResult, out_dir: str | Path, *, stem: str = "fab", title: str | None = None) -> list[Path]:
    """Write ``<stem>.csv``, ``<stem>.json`` and ``yield.png`` (``<stem>.png`` for another stem) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    finals = [out / f"{stem}.csv", out / f"{stem}.json", out / ("yield.png" if stem == "fab" else f"{stem}.png")]
    temps: list[Path] = []
    try:
        for final in finals:
            fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=final.suffix, dir=out)
            os.close(fd)
            temps.append(Path(name))
        with open(temps[0], "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FAB_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(result.rows)
        temps[1].write_text(json.dumps(result.summary(), indent=2) + "\n")
        write_yield_png(result, temps[2], title)
        mask = os.umask(0)
        os.umask(mask)
        for tmp, final in zip(temps, finals):
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, final)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return finals
