"""``ffzero chip serve --config CHIP.toml``: serve a simulated chip to remote trainers until SIGINT/SIGTERM."""

from __future__ import annotations

import inspect
import os
import signal

import click

from ..lab import ChipServer, Limits, SimulatedInstrument
from ..lab.client import TOKEN_ENV
from ..lab.server import DEFAULT_LOG
from .options import NON_NEGATIVE_FLOAT, PORT, POSITIVE_FLOAT, POSITIVE_INT, existing_file

SERVED_INPUTS = {"n_features": 64, "image_shape": [8, 8]}  # a config that names no input size serves 8x8 images
LIMITS = Limits()
LEASE_TTL_S = inspect.signature(ChipServer).parameters["lease_ttl_s"].default


@click.group("chip", short_help="serve a simulated chip to remote trainers; print its power budget")
def chip() -> None:
    """Serve a (simulated) chip to remote trainers, or print its optical and electrical power budget."""


@chip.command("budget", short_help="per-layer detector powers (dBm), SNR and heater power (W) of a physical chip")
@click.option("--config", "config_path", type=existing_file(), required=True, metavar="CHIP.toml",
              help="chip configuration file with [chip] model = \"physical\"")
@click.option("--samples", type=POSITIVE_INT, default=256, show_default=True,
              help="random inputs (uniform in [0, 1]) the detector powers are simulated for")
@click.option("--json", "as_json", is_flag=True, help="print the budget as JSON")
def budget(config_path: str, samples: int, as_json: bool) -> int:
    """Laser to detector in mW/dBm and uA per layer, the detectors' SNR, and the chip's total heater power."""
    import json

    import numpy as np

    from ..chip_factory import build_chip_from_config
    from ..photonic.budget_report import format_budget, power_budget
    from ..photonic.chip_config import ChipConfig

    config = ChipConfig.from_toml(config_path)
    if config.chip.n_features is None:
        config = config.with_overrides(**SERVED_INPUTS)
    device = build_chip_from_config(config)
    x = np.random.default_rng(config.chip.seed).uniform(0.0, 1.0, (samples, device.n_inputs))
    report = power_budget(device, x)
    click.echo(json.dumps(report, indent=2) if as_json else format_budget(report))
    return 0


@chip.command("serve", short_help="serve a simulated chip over ZeroMQ until SIGINT/SIGTERM")
@click.option("--config", "config_path", type=existing_file(), required=True, metavar="CHIP.toml",
              help=f"chip configuration file ([chip], [nonideal], [instrument]); without [chip] n_features the chip "
                   f"takes {SERVED_INPUTS['n_features']} inputs ({SERVED_INPUTS['image_shape']} images)")
@click.option("--host", default="127.0.0.1", help="bind address (others than loopback need --token)")
@click.option("--port", type=PORT, default=0, help="TCP port (0: any free port)")
@click.option("--token", default=None, help=f"shared secret clients must send  [default: ${TOKEN_ENV}]")
@click.option("--latency-s", type=NON_NEGATIVE_FLOAT, default=None, help="modelled latency per request  [default: the config's]")
@click.option("--settle-s", type=NON_NEGATIVE_FLOAT, default=None, help="modelled settling time per heater setting  [default: the config's]")
@click.option("--integrate-s", type=NON_NEGATIVE_FLOAT, default=None, help="modelled detector integration per read  [default: the config's]")
@click.option("--sleep", is_flag=True, help="really wait the modelled lab time")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default=DEFAULT_LOG,
              help="JSON-lines log of refused, unauthenticated and unsafe requests")
@click.option("--no-log", is_flag=True, help="keep no log of refused requests")
@click.option("--lease-ttl-s", type=POSITIVE_FLOAT, default=LEASE_TTL_S,
              help="a client's lease on the chip expires this long after its last request")
@click.option("--max-request-bytes", type=POSITIVE_INT, default=LIMITS.max_request_bytes, help="largest request")
@click.option("--max-work", type=POSITIVE_INT, default=LIMITS.max_work, help="largest query: settings x samples")
@click.option("--max-reply-bytes", type=POSITIVE_INT, default=LIMITS.max_reply_bytes, help="largest reply")
@click.option("--max-request-s", type=POSITIVE_FLOAT, default=LIMITS.max_request_s,
              help="longest time one request may hold the chip")
@click.option("--check", is_flag=True, help="load the config, build the chip and its instrument, print a summary and exit")
def serve(config_path: str, host: str, port: int, token: str | None, latency_s: float | None, settle_s: float | None,
          integrate_s: float | None, sleep: bool, log_path: str, no_log: bool, lease_ttl_s: float,
          max_request_bytes: int, max_work: int, max_reply_bytes: int, max_request_s: float, check: bool) -> int:
    """Print the bound URL on one line, then serve until SIGINT/SIGTERM."""
    from ..chip_factory import build_chip_from_config
    from ..photonic.chip_config import ChipConfig

    config = ChipConfig.from_toml(config_path)
    if config.chip.n_features is None:
        config = config.with_overrides(**SERVED_INPUTS)
    device = build_chip_from_config(config)
    options = config.instrument.instrument_kwargs()
    for key, value in (("latency_s", latency_s), ("settle_s", settle_s), ("integrate_s", integrate_s)):
        if value is not None:
            options[key] = value
    if sleep:
        options["sleep"] = True
    instrument = SimulatedInstrument(device, **options)
    limits = Limits(max_request_bytes=max_request_bytes, max_work=max_work, max_reply_bytes=max_reply_bytes,
                    max_request_s=max_request_s)
    if check:
        sizes = [len(device.layer_info(l).param_names) for l in range(device.n_layers)]
        click.echo(f"chip OK: {device.n_inputs} inputs, {device.n_layers} layers, heaters per layer {sizes}")
        return 0
    server = ChipServer(instrument, host=host, port=port, token=token or os.environ.get(TOKEN_ENV) or None,
                        limits=limits, lease_ttl_s=lease_ttl_s, log_path=None if no_log else log_path)
    previous = {sig: signal.signal(sig, lambda *_: server.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(server.url)
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    counts = server.counts()
    click.echo(f"chip server stopped after {counts['requests']} requests ({counts['calls']} queries)", err=True)
    return 0
