"""The ffzero command: outputs of a run, evaluate, resume, and one-line errors for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ffzero_photonics.cli import main

FAST = ["--epochs", "2", "--hidden", "16", "--batch-size", "64", "--no-progress"]


def test_train_writes_a_complete_run_and_evaluate_reloads_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    for name in ("metrics.json", "history.csv", "learning_curves.png", "confusion_matrix.png", "checkpoint.npz"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "test_accuracy_last", "queries", "wall_time_s", "config"):
        assert key in m
    assert m["config"]["train"]["paradigm"] == "ffzero" and m["queries"] > 0
    lines = (out / "history.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 2  # header + 2 layers x 2 epochs
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test_accuracy_vote"] == pytest.approx(m["test_accuracy_vote"])


def test_rerun_resumes_and_same_seed_reproduces(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--out", str(a), "--seed", "5", *FAST]) == 0
    first = json.loads((a / "metrics.json").read_text())
    assert main(["train", "--out", str(a), "--seed", "5", *FAST]) == 0  # finished run: nothing re-trained
    assert json.loads((a / "metrics.json").read_text())["queries"] == first["queries"]
    assert main(["train", "--out", str(b), "--seed", "5", *FAST]) == 0
    assert json.loads((b / "metrics.json").read_text())["test_accuracy"] == first["test_accuracy"]


def test_regression_run_writes_scatter(tmp_path):
    out = tmp_path / "reg"
    assert main(["train", "--dataset", "f2", "--out", str(out), *FAST]) == 0
    assert (out / "prediction_scatter.png").is_file()
    assert "test_r2" in json.loads((out / "metrics.json").read_text())


def _bad_npz(path, kind):
    x = np.random.default_rng(0).random((20, 4))
    y = np.arange(20) % 2
    if kind == "nan":
        x[3, 1] = np.nan
    if kind == "mismatch":
        y = y[:-1]
    np.savez(path, x_train=x, y_train=y, x_test=x[:5], y_test=np.arange(5) % 2)


@pytest.mark.parametrize("args,match", [
    (["--model", "transformer"], "unknown model 'transformer'"),
    (["--paradigm", "bp-xx"], "unknown paradigm 'bp-xx'"),
    (["--dataset", "cifar"], "unknown dataset"),
    (["--dataset", "idx:/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--epochs", "0"], "--epochs: must be positive"),
    (["--lr", "-0.1"], "--lr: must be a positive finite number"),
    (["--eps", "0"], "--eps: must be a positive finite number"),
    (["--hidden", "10,x"], "--hidden: expected comma-separated integers"),
    (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'"),
    (["--model", "photonic", "--hidden", "8"], "--hidden does not apply to --model photonic"),
    (["--dataset", "NPZ_NAN"], "NaN"),
    (["--dataset", "NPZ_MISMATCH"], "20"),
])
def test_bad_input_one_line_error_and_nothing_written(tmp_path, capsys, args, match):
    for i, a in enumerate(args):
        if a.startswith("NPZ_"):
            path = tmp_path / f"{a.lower()}.npz"
            _bad_npz(path, a[4:].lower())
            args = args[:i] + [f"npz:{path}"] + args[i + 1:]
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ffzero: error:") and err.count("\n") == 1, err
    assert match.lower() in err.lower(), err
    assert not out.exists()


def test_no_traceback_from_the_installed_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ffzero_photonics.cli", "train", "--epochs", "-3"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_evaluate_missing_run_dir(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_refuses_to_mix_runs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    assert main(["train", "--out", str(out), "--lr", "0.5", *FAST]) == 2
    assert "different configuration (train.lr)" in capsys.readouterr().err


def test_export_gds_untrained_and_from_a_trained_chip(tmp_path, capsys):
    import csv

    assert main(["export-gds", "--mesh", "reck", "--ports", "4", "--out", str(tmp_path / "u.gds")]) == 0
    assert (tmp_path / "u.gds").stat().st_size > 0 and (tmp_path / "u.png").is_file()
    run = tmp_path / "chip"
    assert main(["train", "--model", "photonic", "--ports", "4", "--layers", "2", "--dataset", "iris",
                 "--out", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert main(["export-gds", "--from", str(run), "--out", str(tmp_path / "t.gds"), "--raw-phases"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "t_heaters.csv")))
    assert len(rows) == 2 * 16  # 2 layers x (2*6 + 4) heaters
    from ffzero_photonics.run import load_run

    model = load_run(run)[2]
    by_name = {r["heater"]: float(r["phase_rad"]) for r in rows}
    names = model.layer_info(1).param_names
    np.testing.assert_allclose([by_name[n] for n in names], model.get_params(1), atol=1e-9)


@pytest.mark.parametrize("args,match", [
    (["--out", "chip.txt"], "must name a .gds file"),
    (["--mesh", "hex", "--out", "c.gds"], "unknown mesh topology 'hex'"),
    (["--from", "NOPE", "--out", "c.gds"], "no checkpoint"),
])
def test_export_gds_bad_input(tmp_path, capsys, args, match):
    args = [a.replace("NOPE", str(tmp_path / "nope")) if a == "NOPE" else a for a in args]
    args = [str(tmp_path / a) if a.endswith((".gds", ".txt")) else a for a in args]
    assert main(["export-gds", *args]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not list(tmp_path.glob("*.gds"))
