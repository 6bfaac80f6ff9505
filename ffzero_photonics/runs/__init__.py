"""Run directories: training runs as self-describing directories (spec, provenance, checkpoint, metrics, figures)."""

from .run import CHECKPOINT, RUN_RECORD, RunSpec, evaluate_run, load_run, load_run_data, read_run_record, train_run

__all__ = ["CHECKPOINT", "RUN_RECORD", "RunSpec", "evaluate_run", "load_run", "load_run_data", "read_run_record",
           "train_run"]
