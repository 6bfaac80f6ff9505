"""Sweeps: grid expansion, atomic per-cell results, skip on re-run, failures recorded, summaries, Dask;
crashed workers fail only their task, a killed sweep stops its workers, a lock refuses a second sweep."""

import csv
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed
import pytest

import crash_tasks
from ffzero_photonics.errors import ExternalFailure, UserInputError
from ffzero_photonics.scale import executor, sweep
from ffzero_photonics.cli import main
from ffzero_photonics.trainer import PARADIGM_DEFAULTS as DEFAULTS

SMALL = """
model = "mlp"
dataset = "iris"
[model_options]
hidden = [4]
[train]
epochs = 1
batch_size = 32
"""


def write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_expands_to_validated_cells(tmp_path):
    path = write(tmp_path, SMALL + """
[grid]
seed = [0, 1, 2]
train.lr = [0.001, 0.003]
model_options.hidden = [[4], [8, 8]]
""")
    base, axes = sweep.load_sweep(path)
    assert list(axes) == ["train.seed", "train.lr", "model_options.hidden"]
    cells = sweep.expand(base, axes)
    assert len(cells) == 12 and len({c.id for c in cells}) == 12
    cell = cells[-1]
    assert cell.values == {"train.seed": 2, "train.lr": 0.003, "model_options.hidden": [8, 8]}
    assert cell.spec["train"]["seed"] == 2 and cell.spec["train"]["lr"] == 0.003
    assert cell.spec["model_options"] == {"hidden": [8, 8]}
    assert cell.spec["train"]["epochs"] == 1  # the file wins over the paradigm's defaults ...
    assert cell.spec["train"]["optimizer"] == DEFAULTS["ffzero"]["optimizer"]  # ... which fill the rest
    assert cell.id.startswith("seed=2_lr=0.003_hidden=8,8-")
    assert [c.id for c in sweep.expand(base, axes)] == [c.id for c in cells]  # stable ids
    assert len(sweep.expand(*sweep.load_sweep(write(tmp_path, SMALL, "one.toml")))) == 1


@pytest.mark.parametrize("text,match", [
    ("[grid]\ntrain.lrr = [1]\n", "no field 'lrr'"),
    ("[grid]\nepochs = [1, 2]\n", "not a run field"),
    ("[grid]\nseed = []\n", "non-empty list"),
    ("[grid]\ntrain.lr = [-1.0]\n", "lr must be a positive"),
    ("colour = 1\n", "unknown key"),
    ("[grid\n", "not valid TOML"),
    ("[grid]\nmodel_options.hiden = [[4]]\n", "hiden=.*option 'hiden' does not apply to model 'mlp'"),
    ("[grid]\nmodel_options.activation = ['tanhh']\n", "option 'activation': unknown value 'tanhh'"),
])
def test_bad_sweep_files_fail_before_running(tmp_path, text, match):
    with pytest.raises(UserInputError, match=match) as err:
        sweep.expand(*sweep.load_sweep(write(tmp_path, SMALL + text if "[grid" in text else text + SMALL)))
    assert "\n" not in str(err.value)


PHOTONIC = """
model = "photonic"
dataset = "iris"
[model_options]
ports = 4
[train]
epochs = 1
"""


@pytest.mark.parametrize("text,match", [
    (PHOTONIC.replace("ports = 4", "port = 4"), "model 'photonic' takes no option 'port'"),
    (PHOTONIC + "[model_options.nonideal]\nwarp = 1\n", "[nonideal] unknown section 'warp'"),
    (PHOTONIC.replace('dataset = "iris"', 'dataset = "iris"\nstandardize = "yes"'), "standardize must be a bool"),
    (PHOTONIC + "[grid]\nmodel_options.layers = [1, 0]\n", "grid cell model_options.layers=0"),
])
def test_options_the_model_refuses_stop_the_sweep_before_any_cell_runs(tmp_path, capsys, text, match):
    out = tmp_path / "out"
    assert main(sweep_argv(write(tmp_path, text), out, workers=0)) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and match in err, err
    assert not out.exists()


def test_misspelled_train_field_is_refused(tmp_path):
    path = write(tmp_path, SMALL.replace("batch_size = 32", "batch_sise = 32"))
    with pytest.raises(UserInputError, match=r"\[train\] has unknown field 'batch_sise'"):
        sweep.expand(*sweep.load_sweep(path))


def test_misspelled_model_option_is_refused_not_trained_as_default(tmp_path):
    path = write(tmp_path, SMALL.replace("hidden = [4]", "hiden = [4]"))
    with pytest.raises(UserInputError, match=r"\[model_options\] option 'hiden' does not apply to model 'mlp'; it takes hidden"):
        sweep.expand(*sweep.load_sweep(path))


GRID = SMALL + """
[grid]
dataset = ["iris", "npz:/nonexistent/data.npz"]
seed = [0, 1]
"""


def sweep_argv(path, out, **kw):
    return ["sweep", str(path), "--out", str(out), "--no-progress", *(f"--{k}={v}" for k, v in kw.items())]


def check_outputs(out, n_ok, n_failed):
    cells = sorted((out / "cells").iterdir())
    assert len(cells) == n_ok + n_failed
    results = [json.loads((c / "result.json").read_text()) for c in cells if (c / "result.json").exists()]
    errors = [json.loads((c / "error.json").read_text()) for c in cells if (c / "error.json").exists()]
    assert len(results) == n_ok and len(errors) == n_failed
    assert all(r["status"] == "ok" and 0 <= r["test_accuracy"] <= 1 and r["queries"] > 0 for r in results)
    assert all(e["status"] == "failed" and "nonexistent" in e["error"] for e in errors)
    assert not list(out.rglob("*.tmp"))
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == n_ok + n_failed
    assert set(rows[0]) == {"cell", "dataset", "train.seed", "status", "test_accuracy", "queries", "wall_time_s", "error"}
    assert sorted(r["status"] for r in rows) == ["failed"] * n_failed + ["ok"] * n_ok
    md = (out / "summary.md").read_text()
    assert md.count("\n| ") == n_ok + n_failed + 1 and f"{n_ok} of {n_ok + n_failed} cells finished" in md
    return results


def test_sweep_records_failures_and_rerun_skips_finished_cells(tmp_path, monkeypatch, capsys):
    path, out = write(tmp_path, GRID), tmp_path / "out"
    assert main(sweep_argv(path, out, workers=0)) == 1  # a failed cell: non-zero exit, others ran
    assert "4 cells: 2 finished, 2 failed" in capsys.readouterr().out
    first = check_outputs(out, 2, 2)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("result.json")}

    ran = []
    real = sweep.run_cell
    monkeypatch.setattr(sweep, "run_cell", lambda cid, *a: ran.append(cid) or real(cid, *a))
    records = sweep.run_sweep(path, out, workers=0, progress=False, log=lambda m: None)
    assert len(ran) == 2 and all("nonexistent" in r["error"] for r in records if r["cell"] in ran)  # only failed cells re-run
    assert {p: p.stat().st_mtime_ns for p in out.rglob("result.json")} == stamps
    assert check_outputs(out, 2, 2) == first


def _kill_one_worker(killed: list, after_s: float = 0.5) -> None:
    """SIGKILL the first live worker process of this process ``after_s`` after it appears."""
    deadline = time.monotonic() + 60
    while not killed and time.monotonic() < deadline:
        workers = [p for p in multiprocessing.active_children() if p.is_alive()]
        if workers:
            time.sleep(after_s)
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)
        time.sleep(0.01)


def test_sweep_on_local_processes_survives_a_killed_worker(tmp_path):
    """Two spawned worker processes; four one-epoch iris cells, two of them failing fast. One worker is
    SIGKILLed while it imports or trains: its cell is retried on a fresh worker, the others are untouched."""
    path, out = write(tmp_path, GRID), tmp_path / "out"
    killed = []
    killer = threading.Thread(target=_kill_one_worker, args=(killed,))
    killer.start()
    records = sweep.run_sweep(path, out, workers=2, progress=False, log=lambda m: None)
    killer.join()
    assert killed
    assert [r["status"] for r in records] == ["ok", "ok", "failed", "failed"]
    check_outputs(out, 2, 2)


@pytest.mark.slow
def test_sweep_on_a_dask_local_cluster(tmp_path):
    """A two-process LocalCluster given as a Client (the Python API); three one-epoch iris cells (bounded as is,
    FFZERO_BOUNDED=1 or not). Marked slow only because starting the cluster's four processes costs ~10 s of CPU."""
    path, out = write(tmp_path, SMALL + "[grid]\nseed = [0, 1, 2]\n"), tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  host="127.0.0.1", silence_logs=50) as cluster, distributed.Client(cluster) as client:
        records = sweep.run_sweep(path, out, scheduler=client, progress=False, log=lambda m: None)
        assert client.status == "running"  # the caller's client is left open
        from ffzero_photonics.studies.robustness import run_robustness

        study = run_robustness(  # the robustness study runs on the same engine
            tmp_path / "study", bounded=True, scheduler=cluster.scheduler_address, epochs=1, offline_epochs=1,
            effects=("phase_offset",), levels=("high",), multilayer_effects=(), ablation_epochs=1,
            photonic_ablations=("base",), mlp_ablations=("base",), mc_instances=2, mc_retrain=0,
            wavelengths=(1.55,), log=lambda m: None,
        )
        assert (tmp_path / "study" / "summary.md").is_file() and study["wall_time_s"] > 0
    assert [r["status"] for r in records] == ["ok"] * 3
    assert all((out / "cells" / r["cell"] / "result.json").exists() for r in records)
    assert len(list(csv.DictReader((out / "summary.csv").open()))) == 3


@pytest.mark.slow
def test_scheduler_local_starts_a_local_cluster_and_prints_its_dashboard(tmp_path, capsys):
    """``ffzero sweep --scheduler local --workers 1``: two one-epoch cells on a one-process LocalCluster (~10 s)."""
    path, out = write(tmp_path, SMALL + "[grid]\nseed = [0, 1]\n"), tmp_path / "out"
    assert main(sweep_argv(path, out, scheduler="local", workers=1)) == 0
    captured = capsys.readouterr()
    assert "dashboard: http://" in captured.err
    assert "2 cells: 2 finished, 0 failed" in captured.out


def test_unreachable_scheduler_is_an_external_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", "0.5s")
    path = write(tmp_path, SMALL)
    with pytest.raises(ExternalFailure, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        sweep.run_sweep(path, tmp_path / "out", scheduler="tcp://127.0.0.1:9", progress=False, log=lambda m: None)
    assert not (tmp_path / "out").exists()  # nothing half-written


def _one_error_line(err: str) -> bool:
    return err.startswith("ffzero: error:") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args,match", [
    ({"scheduler": "tcp://"}, "scheduler 'tcp://' is not 'local' or an address"),
    ({"scheduler": "tcp://host:notaport"}, "is not 'local' or an address"),
    ({"scheduler": "tcp://host:99999"}, "out of range"),
    ({"scheduler": "localhost"}, "is not 'local' or an address"),
    ({"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, "a running cluster has its own workers"),
    ({"scheduler": "local", "workers": 0}, "at least 1"),
])
def test_bad_scheduler_or_workers_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, match):
    out = tmp_path / "out"
    assert main(sweep_argv(write(tmp_path, SMALL), out, **args)) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and match in err, err
    assert not out.exists()


def test_sweep_out_under_a_file_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "blocker").write_text("x")
    assert main(sweep_argv(write(tmp_path, SMALL), tmp_path / "blocker" / "out")) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and "lies under the file" in err


def test_a_second_sweep_on_the_same_directory_is_refused(tmp_path, capsys):
    path, out = write(tmp_path, SMALL), tmp_path / "out"
    with sweep.sweep_lock(out):
        with pytest.raises(UserInputError, match=f"in use by another sweep \\(pid {os.getpid()}\\)"):
            sweep.run_sweep(path, out, workers=0, progress=False, log=lambda m: None)
        assert main(sweep_argv(path, out, workers=0)) == 2
        assert _one_error_line(capsys.readouterr().err)
        assert not (out / "cells").exists()
    with sweep.sweep_lock(out):  # released with its holder
        pass


# ---------------------------------------------------------------- crashed and orphaned workers
def test_a_crashed_worker_fails_only_its_task_after_one_retry(tmp_path):
    kinds = ["ok", "dies once", "dies", "raises", "ok"]
    args = [(kind, str(tmp_path / f"marker-{i}")) for i, kind in enumerate(kinds)]
    outcomes = {}
    for i, fut in executor.run_tasks(crash_tasks.crash, args, workers=2):
        try:
            outcomes[i] = fut.result()
        except (executor.WorkerDied, ValueError) as exc:
            outcomes[i] = f"{type(exc).__name__}: {exc}"
    assert outcomes == {0: "ok", 1: "dies once", 3: "ValueError: task 'raises' failed", 4: "ok",
                        2: "WorkerDied: the worker process running task 2 died (killed by SIGKILL), 2 time(s)"}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_parent_stops_its_workers(tmp_path):
    script = ("import sys; from ffzero_photonics.scale.executor import run_tasks; import crash_tasks\n"
              "for _ in run_tasks(crash_tasks.record_pid_and_wait, [(sys.argv[1],)] * 2, workers=2): pass\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(crash_tasks.__file__).parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert len(pids) == 2 and all(map(_alive, pids))
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, pids))

