"""``ffzero chip serve`` and ``ffzero sweep``: parsers and commands the main CLI mounts.

CHIP.toml::

    [chip]                 # PhotonicChip keyword arguments
    n_features = 64        # default 64
    image_shape = [8, 8]   # default [8, 8]; [] for vector inputs
    ports = 16
    layers = 1
    seed = 0

    [instrument]           # optional: the simulated lab hardware
    p_pi_mW = 20.0
    max_power_mW = 40.0    # number, or a table heater-name -> mW
    latency_s = 0.002
"""

from __future__ import annotations

import argparse
import inspect
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..argtypes import non_negative_float, non_negative_int, port
from ..validation import read_toml

CHIP_DEFAULTS = {"n_features": 64, "image_shape": [8, 8]}
INSTRUMENT_KEYS = ("p_pi_mW", "max_power_mW", "latency_s", "settle_s", "integrate_s", "sleep")
TOKEN_ENV = "FFZERO_CHIP_TOKEN"


def _chip_keys() -> tuple[str, ...]:
    from ..photonic.chip import PhotonicChip

    return tuple(inspect.signature(PhotonicChip).parameters)


def _read_chip_toml(path: str | Path) -> dict[str, Any]:
    """A CHIP.toml with only [chip] and [instrument] tables."""
    path = Path(path)
    doc = read_toml(path, "chip config")
    unknown = sorted(set(doc) - {"chip", "instrument"})
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {', '.join(map(repr, unknown))}; allowed: [chip], [instrument]")
    for key in ("chip", "instrument"):
        if not isinstance(doc.get(key, {}), dict):
            raise ValueError(f"{path}: {key} must be a table ([{key}]), got {doc[key]!r}")
    if "chip" not in doc:
        raise ValueError(f"{path}: missing the [chip] table")
    return doc


def load_chip_config(path: str | Path) -> dict[str, Any]:
    """``PhotonicChip`` keyword arguments from a CHIP.toml's ``[chip]`` table, defaults filled in, validated."""
    doc = _read_chip_toml(path)
    chip = {**CHIP_DEFAULTS, **doc["chip"]}
    allowed = _chip_keys()
    unknown = sorted(set(chip) - set(allowed))
    if unknown:
        raise ValueError(f"{path}: unknown [chip] key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    for key in ("n_features", "ports", "layers"):
        value = chip.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{path}: [chip] {key} must be a positive integer, got {value!r}")
    seed = chip.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{path}: [chip] seed must be a non-negative integer, got {seed!r}")
    shape = chip["image_shape"]
    if shape in ([], False, None):
        chip["image_shape"] = None
    elif (not isinstance(shape, list) or len(shape) != 2
          or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)):
        raise ValueError(f"{path}: [chip] image_shape must be two positive integers like [8, 8] (or []), got {shape!r}")
    elif shape[0] * shape[1] != chip["n_features"]:
        raise ValueError(f"{path}: [chip] image_shape {shape} does not hold n_features = {chip['n_features']}")
    for key in ("mesh", "init"):
        if key in chip and not isinstance(chip[key], str):
            raise ValueError(f"{path}: [chip] {key} must be a string, got {chip[key]!r}")
    for key in ("alpha", "gain", "phase_bias", "input_power"):
        if key in chip and (isinstance(chip[key], bool) or not isinstance(chip[key], (int, float))):
            raise ValueError(f"{path}: [chip] {key} must be a number, got {chip[key]!r}")
    return chip


def load_instrument_config(path: str | Path) -> dict[str, Any]:
    """``SimulatedInstrument`` keyword arguments from the optional ``[instrument]`` table."""
    inst = dict(_read_chip_toml(path).get("instrument", {}))
    unknown = sorted(set(inst) - set(INSTRUMENT_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown [instrument] key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(INSTRUMENT_KEYS)}")
    return inst


def build_chip(config: dict[str, Any]):
    """A ``PhotonicChip`` from :func:`load_chip_config` output; bad values raise one-line ValueErrors."""
    from ..photonic.chip import PhotonicChip

    config = dict(config)
    if config.get("image_shape"):
        config["image_shape"] = tuple(config["image_shape"])
    try:
        return PhotonicChip(**config)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"invalid chip configuration: {exc}") from None


# ---------- ffzero chip serve ----------
def add_chip_parser(subparsers) -> argparse.ArgumentParser:
    """``ffzero chip serve --config CHIP.toml [--host] [--port] [--token] [--latency-s] [--settle-s] [--integrate-s]``."""
    chip = subparsers.add_parser("chip", help="serve a (simulated) chip to remote trainers")
    sub = chip.add_subparsers(dest="chip_command", metavar="serve", required=True, parser_class=type(chip))
    s = sub.add_parser("serve", help="serve a simulated chip over ZeroMQ until SIGINT/SIGTERM")
    s.add_argument("--config", required=True, help="CHIP.toml with a [chip] table (PhotonicChip options)")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need --token)")
    s.add_argument("--port", type=port, default=0, help="TCP port (default 0: any free port)")
    s.add_argument("--token", default=None, help=f"shared secret clients must send (default ${TOKEN_ENV})")
    s.add_argument("--latency-s", type=non_negative_float, default=None, help="modelled latency per request")
    s.add_argument("--settle-s", type=non_negative_float, default=None, help="modelled settling time per heater setting")
    s.add_argument("--integrate-s", type=non_negative_float, default=None, help="modelled detector integration per read")
    s.add_argument("--sleep", action="store_true", help="really wait the modelled lab time")
    return chip


def cmd_chip_serve(args: argparse.Namespace) -> int:
    """Print the bound URL on one line, then serve until SIGINT/SIGTERM."""
    from .instrument import SimulatedInstrument
    from .server import ChipServer

    chip = build_chip(load_chip_config(args.config))
    options = load_instrument_config(args.config)
    for key in ("latency_s", "settle_s", "integrate_s"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.sleep:
        options["sleep"] = True
    instrument = SimulatedInstrument(chip, **options)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    server = ChipServer(instrument, host=args.host, port=args.port, token=token)
    previous = {sig: signal.signal(sig, lambda *_: server.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(server.url, flush=True)
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    counts = server.counts()
    print(f"chip server stopped after {counts['requests']} requests ({counts['calls']} queries)", file=sys.stderr)
    return 0


# ---------- ffzero sweep ----------
def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """``ffzero sweep SWEEP.toml --out DIR [--scheduler tcp://HOST:8786] [--workers N] [--no-progress]``."""
    s = subparsers.add_parser("sweep", help="run a grid of independent trainings (local processes or Dask)")
    s.add_argument("sweep_file", metavar="SWEEP.toml")
    s.add_argument("--out", required=True, help="sweep directory (cells/, summary.csv, summary.md)")
    s.add_argument("--scheduler", default=None, help="Dask distributed scheduler, e.g. tcp://HOST:8786")
    s.add_argument("--workers", type=non_negative_int, default=None,
                   help="local worker processes (default: CPU count; 0 = in this process)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    return s


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep; exit 0 if every cell finished, 1 if any failed."""
    from ..sweep import run_sweep

    records = run_sweep(
        args.sweep_file, args.out, workers=args.workers, scheduler=args.scheduler,
        progress=not args.no_progress, log=lambda m: print(m, file=sys.stderr),
    )
    failed = [r for r in records if r.get("status") != "ok"]
    print(f"{len(records)} cells: {len(records) - len(failed)} finished, {len(failed)} failed | "
          f"summary: {Path(args.out) / 'summary.md'}")
    return 1 if failed else 0
