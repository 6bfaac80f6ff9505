"""Train a physical chip in situ through VISA: a heater DAC, an input modulator and a power meter on pyvisa-sim.

    python examples/lab_visa.py                    # N = 8, 1 layer, iris, 20 epochs, ~15 s
    python examples/lab_visa.py --ports 4 --epochs 40

The trainer sees ``InstrumentChip(VisaBench(...))``; the bench sends the SCPI strings a lab driver
would (``SOUR{ch}:VOLT``, ``SOUR:LIST``, ``MEAS:POW?``) to the resource strings of
``ffzero_photonics/lab/visa_sim.yaml``. pyvisa-sim answers the protocol; the power meter's readings
come from the simulated physical chip (ChipConfig.preset("physical")), the same physics as
``SimulatedInstrument``. On a real bench, pass ``VisaBench`` your own resource manager and strings.
"""

from __future__ import annotations

import argparse
import sys
import time

from ffzero_photonics.chip_factory import build_chip_from_config
from ffzero_photonics.data import load_dataset
from ffzero_photonics.lab import InstrumentChip, SimulatedInstrument, Timing
from ffzero_photonics.lab.visa import open_simulated_bench
from ffzero_photonics.photonic.chip_config import ChipConfig
from ffzero_photonics.trainer import TrainConfig, Trainer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", type=int, default=8, choices=[4, 8], help="ports of the single mesh layer")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--message-ms", type=float, default=0.5, help="modelled lab time per VISA transaction")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    data = load_dataset("iris", seed=args.seed)
    config = ChipConfig.preset("physical").with_overrides(
        ports=args.ports, layers=1, n_features=data.X_train.shape[1], seed=args.seed)
    device = SimulatedInstrument(build_chip_from_config(config, data))
    bench, _ = open_simulated_bench(device, timing=Timing(latency_s=1e-3, settle_s=1e-4, integrate_s=1e-5),
                                    message_s=args.message_ms * 1e-3)
    chip = InstrumentChip(bench)
    print(f"bench: {', '.join(bench.to_config()['resources'])}; {len(chip.channels.layers[0].heaters)} heaters, "
          f"{len(chip.channels.layers[0].detectors)} detectors")

    trainer = Trainer(TrainConfig(epochs=args.epochs, batch_size=16, lr=0.3, seed=args.seed))
    before = trainer.evaluate(chip, data)["test_accuracy"]
    history = trainer.fit(chip, data)
    after = trainer.evaluate(chip, data)["test_accuracy"]

    print(f"loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f} over {len(history)} epochs")
    print(f"test accuracy {before:.3f} before, {after:.3f} after training through VISA")
    print(f"VISA traffic: {bench.writes:,} writes, {bench.queries:,} queries; "
          f"modelled lab time {bench.clock.lab_time_s:.1f} s; {time.perf_counter() - t0:.1f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
