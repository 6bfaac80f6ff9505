"""The ``ffzero`` command: train, evaluate, export layouts. Bad input: one line, non-zero exit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .argtypes import int_list, non_negative_int, positive_float, positive_int
from .recipes import default_train
from .trainer import PARADIGMS

EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise CLIError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ffzero", description="Design and train photonic neural networks without backpropagation.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and write a run directory")
    t.add_argument("--model", default="mlp", help="mlp | cnn | photonic (default mlp)")
    t.add_argument("--paradigm", default="ffzero", help=f"{' | '.join(PARADIGMS)} (default ffzero)")
    t.add_argument("--dataset", default="digits", help="digits | iris | wine | f1 | f2 | idx:PATH | npz:PATH")
    t.add_argument("--epochs", type=positive_int, default=None, help="epochs per layer (local) or in total (global)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=None, help="run directory (default runs/<model>-<paradigm>-<dataset>-s<seed>)")
    g = t.add_argument_group("method hyper-parameters (defaults: the tuned recipe, see README)")
    g.add_argument("--batch-size", type=positive_int, default=None)
    g.add_argument("--lr", type=positive_float, default=None)
    g.add_argument("--eps", type=positive_float, default=None)
    g.add_argument("--dirs", type=positive_int, default=None, help="K random directions per step")
    g.add_argument("--scheme", default=None, help="central | forward differences")
    g.add_argument("--directions", default=None, help="sphere | gaussian")
    g.add_argument("--optimizer", default=None, help="sgd | adam")
    g.add_argument("--schedule", default=None, help="constant | cosine")
    g.add_argument("--loss", default=None, help="auto | hinge | cosine | mse")
    g.add_argument("--prototypes", default=None, help="auto | simplex | onehot")
    g.add_argument("--margin", type=float, default=None)
    g.add_argument("--proj-dim", type=positive_int, default=None)
    d = t.add_argument_group("digital models")
    d.add_argument("--hidden", type=int_list, default=None, help="MLP hidden widths, e.g. 100,100,100")
    d.add_argument("--activation", default=None, help="tanh | relu | leaky_relu | gelu | sigmoid | none")
    d.add_argument("--channels", type=int_list, default=None, help="CNN channels per conv layer, e.g. 4,4")
    d.add_argument("--kernel", type=positive_int, default=None, help="CNN kernel size")
    p = t.add_argument_group("photonic chip")
    p.add_argument("--mesh", default=None, help="clements | reck")
    p.add_argument("--ports", type=positive_int, default=None, help="ports per mesh (16, 25, 64, ...)")
    p.add_argument("--layers", type=positive_int, default=None, help="number of mesh layers")
    p.add_argument("--chip", default=None,
                   help="train a chip served by `ffzero chip serve` (tcp://HOST:PORT; token from $FFZERO_CHIP_TOKEN)")
    from .study import add_chip_config_arguments, add_study_parser

    add_chip_config_arguments(p)
    t.add_argument("--checkpoint-every", type=non_negative_int, default=None,
                   help="also checkpoint every N steps inside an epoch (default 0: after every epoch)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="reload a run directory's checkpoint and evaluate it on the test split")
    e.add_argument("run_dir")

    from .lab.serve_cli import add_chip_parser, add_sweep_parser

    add_chip_parser(sub)
    add_sweep_parser(sub)
    add_study_parser(sub)
    from .verify_cli import add_verify_parser

    add_verify_parser(sub)

    x = sub.add_parser("export-gds", help="write the GDS layout (+ heater table and PNG preview) of a mesh or trained chip")
    x.add_argument("--from", dest="run_dir", default=None, help="a photonic run directory: export the trained chip")
    x.add_argument("--mesh", default="clements", help="clements | reck (untrained layout)")
    x.add_argument("--ports", type=positive_int, default=8)
    x.add_argument("--layers", type=positive_int, default=1)
    x.add_argument("--out", required=True, help="path of the .gds file to write")
    x.add_argument("--p-pi-mw", type=positive_float, default=20.0, help="heater power for a pi phase shift (mW)")
    x.add_argument("--resistance-ohm", type=positive_float, default=1000.0, help="heater resistance (ohm)")
    x.add_argument("--raw-phases", action="store_true",
                   help="write the trained phases as they are (no compensation of routed waveguide phases)")
    return parser


MODEL_OPTIONS = {
    "mlp": ("hidden", "activation"),
    "cnn": ("channels", "kernel", "activation"),
    "photonic": ("mesh", "ports", "layers", "chip"),
}


def spec_from_args(args: argparse.Namespace):
    """A validated RunSpec from parsed ``train`` arguments."""
    from .models import MODEL_KINDS
    from .run import RunSpec
    from .trainer import TrainConfig

    if args.model not in MODEL_KINDS:
        raise CLIError(f"unknown model {args.model!r}; choose one of {', '.join(MODEL_KINDS)}")
    if args.paradigm not in PARADIGMS:
        raise CLIError(f"unknown paradigm {args.paradigm!r}; choose one of {', '.join(PARADIGMS)}")
    train = default_train(args.paradigm, args.model)
    for key in ("epochs", "batch_size", "lr", "eps", "scheme", "directions", "optimizer", "schedule",
                "loss", "prototypes", "margin", "proj_dim", "checkpoint_every"):
        value = getattr(args, key)
        if value is not None:
            train[key] = value
    if args.dirs is not None:
        train["n_dirs"] = args.dirs
    train.update(paradigm=args.paradigm, seed=args.seed)
    options: dict[str, Any] = {}
    for key in ("hidden", "activation", "channels", "kernel", "mesh", "ports", "layers", "chip"):
        value = getattr(args, key)
        if value is not None:
            if key not in MODEL_OPTIONS[args.model]:
                raise CLIError(f"--{key} does not apply to --model {args.model}")
            options[key] = list(value) if isinstance(value, tuple) else value
    from .study import chip_options_from_args

    chip_options = chip_options_from_args(args)
    if chip_options and args.model != "photonic":
        raise CLIError("--chip-config, --nonideal, --wavelength and --instance-seed need --model photonic")
    options = {**chip_options, **options}
    return RunSpec(model=args.model, model_options=options, dataset=args.dataset, train=TrainConfig(**train))


def cmd_train(args: argparse.Namespace) -> int:
    from .run import train_run

    if args.seed < 0:
        raise CLIError(f"--seed must be >= 0, got {args.seed}")
    spec = spec_from_args(args)
    out = Path(args.out or f"runs/{args.model}-{args.paradigm}-{_slug(args.dataset)}-s{args.seed}")
    metrics = train_run(spec, out, progress=not args.no_progress, log=lambda m: print(m, file=sys.stderr))
    _print_summary(out, metrics)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .run import evaluate_run

    result = evaluate_run(args.run_dir)
    print(json.dumps(result, indent=2))
    return 0


def _print_summary(out: Path, m: dict[str, Any]) -> None:
    if "test_r2" in m:
        head = f"test R² {m['test_r2']:.4f}"
    else:
        head = f"test accuracy {m['test_accuracy']:.4f} (vote {m['test_accuracy_vote']:.4f}, last layer {m['test_accuracy_last']:.4f})"
    print(f"{head} | {m['queries']:,} training sample queries | {m['wall_time_s']:.1f} s | run directory: {out}")


def _slug(dataset: str) -> str:
    stem = Path(dataset.split(":", 1)[-1]).stem
    return "".join(c if c.isalnum() else "_" for c in stem) or "data"


def cmd_export_gds(args: argparse.Namespace) -> int:
    from .photonic.mesh_spec import build_mesh

    out = Path(args.out)
    if out.suffix.lower() != ".gds":
        raise CLIError(f"--out must name a .gds file, got {args.out!r}")
    if not out.parent.exists():
        raise CLIError(f"directory {out.parent} does not exist")
    if args.run_dir is not None:
        from .tapeout import export_run

        result, compensated = export_run(args.run_dir, out, compensate_routes=not args.raw_phases,
                                         p_pi_mW=args.p_pi_mw, resistance_ohm=args.resistance_ohm)
        if compensated:
            print("heater phases compensate the routed waveguides' phases (verify with `ffzero verify`)")
    else:
        from .layouts.export import export_chip

        specs = [build_mesh(args.mesh, args.ports) for _ in range(args.layers)]
        result = export_chip(specs if len(specs) > 1 else specs[0], None, out,
                             p_pi_mW=args.p_pi_mw, resistance_ohm=args.resistance_ohm)
    print(f"wrote {result.gds_path} ({result.n_heaters} heaters, {result.n_pads} pads), "
          f"heater table {result.csv_path}, preview {result.png_path}")
    return 0


def cmd_chip(args: argparse.Namespace) -> int:
    from .lab.serve_cli import cmd_chip_serve

    return cmd_chip_serve(args)


def cmd_sweep(args: argparse.Namespace) -> int:
    from .lab.serve_cli import cmd_sweep as run_sweep

    return run_sweep(args)


def cmd_study(args: argparse.Namespace) -> int:
    from .study import cmd_study as run_study

    return run_study(args)


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify_cli import cmd_verify as run_verify

    return run_verify(args)


COMMANDS = {"verify": cmd_verify, "study": cmd_study, "train": cmd_train, "evaluate": cmd_evaluate, "export-gds": cmd_export_gds, "chip": cmd_chip,
            "sweep": cmd_sweep}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"ffzero: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError, TypeError, ConnectionError, PermissionError) as exc:
        print(f"ffzero: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ffzero: interrupted; re-run the same command to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
