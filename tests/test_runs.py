"""Run directories: provenance, named checkpoints, user errors, resume records, Python API == CLI, durable
checkpoints, damaged checkpoints as one-line errors, and interrupted runs that resume to the same numbers."""

import json
import os
import re
import shutil
import stat
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from ffzero_photonics.cli import main
from ffzero_photonics.data import load_dataset
from ffzero_photonics.digital.mlp import MLP
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.registry import model_from_config
from ffzero_photonics.runs import RunSpec, load_run, read_run_record, train_run
from ffzero_photonics.runs import run as run_module
from ffzero_photonics.runs.checkpoint import load_checkpoint, load_params, param_arrays, save_checkpoint
from ffzero_photonics.runs.provenance import PACKAGES, git_commit, package_versions
from ffzero_photonics.trainer import PARADIGM_DEFAULTS, Trainer, TrainConfig


def quiet(_message):
    pass


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mlp"
    spec = RunSpec(model="mlp", dataset="iris", model_options={"hidden": [8]}, train=TrainConfig(epochs=2, seed=1))
    return spec, out, train_run(spec, out, progress=False, log=quiet)


def test_run_records_versions_commit_start_time_and_resolved_config(mlp_run):
    spec, out, metrics = mlp_run
    record = read_run_record(out)
    prov = record["provenance"]
    assert set(prov["versions"]) == {"ffzero-photonics", *PACKAGES}
    assert prov["versions"]["numpy"] == np.__version__
    started = datetime.fromisoformat(prov["started_at"])
    assert started.utcoffset().total_seconds() == 0 and started <= datetime.now(timezone.utc)
    assert prov["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
    assert metrics["provenance"] == prov
    train = record["spec"]["train"]
    assert {k: train[k] for k in PARADIGM_DEFAULTS["ffzero"] if k != "epochs"} == \
        {k: v for k, v in PARADIGM_DEFAULTS["ffzero"].items() if k != "epochs"}
    assert record["model_config"] == {"widths": [4, 8, 3], "activation": "tanh", "seed": 1}


def test_git_commit_is_none_outside_a_checkout(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    assert git_commit(tmp_path) is None
    assert package_versions(("no-such-distribution-h2",)) == {"ffzero-photonics": package_versions(())["ffzero-photonics"],
                                                              "no-such-distribution-h2": None}


def test_non_empty_out_and_changed_config_are_user_errors(mlp_run, tmp_path):
    spec, out, _ = mlp_run
    (tmp_path / "stray.txt").write_text("x")
    with pytest.raises(UserInputError, match="not empty and holds no checkpoint"):
        train_run(spec, tmp_path, progress=False, log=quiet)
    other = RunSpec(model="mlp", dataset="iris", model_options={"hidden": [8]}, train=TrainConfig(epochs=2, seed=1, lr=0.1))
    with pytest.raises(UserInputError, match=r"different configuration \(train.lr\)"):
        train_run(other, out, progress=False, log=quiet)


def test_rerunning_a_finished_run_records_the_resume_and_keeps_the_result(mlp_run):
    spec, out, metrics = mlp_run
    before = read_run_record(out)
    again = train_run(spec, out, progress=False, log=quiet)
    assert again["test_accuracy"] == metrics["test_accuracy"]
    assert read_run_record(out)["provenance"] == before["provenance"]


def test_unknown_model_or_option_is_a_user_error():
    with pytest.raises(UserInputError, match="unknown model 'nope'; choose one of mlp, cnn, photonic"):
        RunSpec(model="nope")
    with pytest.raises(UserInputError, match="option 'kernel' does not apply to model 'mlp'"):
        RunSpec(model="mlp", model_options={"kernel": 3})


def test_photonic_checkpoint_keeps_heater_names_and_loads_by_name(tmp_path):
    data = load_dataset("iris", seed=0, standardize=False)
    chip = PhotonicChip.for_data(data, ports=4, layers=2, seed=3)
    arrays = param_arrays(chip)
    for l in range(2):
        assert tuple(arrays[f"param_names_{l}"]) == chip.layer_info(l).param_names
        assert arrays[f"param_names_{l}"][0].startswith(f"L{l}_")
    shuffled = {}
    for l in range(2):
        order = np.random.default_rng(l).permutation(len(arrays[f"param_{l}"]))
        shuffled[f"param_{l}"] = arrays[f"param_{l}"][order]
        shuffled[f"param_names_{l}"] = arrays[f"param_names_{l}"][order]
    fresh = PhotonicChip.for_data(data, ports=4, layers=2, seed=4)
    load_params(fresh, shuffled)
    for l in range(2):
        np.testing.assert_array_equal(fresh.get_params(l), chip.get_params(l))
    shuffled["param_names_1"] = np.array(["L1_nope"] * len(shuffled["param_names_1"]))
    with pytest.raises(UserInputError, match="checkpoint layer 1 names parameters"):
        load_params(fresh, shuffled)


def test_digital_checkpoint_has_no_names(mlp_run):
    _, out, _ = mlp_run
    _, arrays = load_checkpoint(out / "checkpoint.npz")
    assert {"param_0", "param_1"} <= set(arrays) and not any(k.startswith("param_names") for k in arrays)
    _, _, model, _ = load_run(out)
    np.testing.assert_array_equal(model.get_params(1), arrays["param_1"])


def _cli(tmp_path, model, *extra):
    out = tmp_path / f"cli-{model}"
    code = main(["train", "--model", model, "--dataset", "iris", "--epochs", "2", "--seed", "1",
                 "--out", str(out), "--no-progress", *extra])
    assert code == 0
    return load_run(out)


def test_python_api_equals_cli_for_an_mlp(tmp_path):
    spec, _, cli_model, cli_trainer = _cli(tmp_path, "mlp", "--hidden", "8")
    data = load_dataset("iris", seed=1)
    model = MLP(widths=(4, 8, 3), seed=1)
    trainer = Trainer(paradigm="ffzero", epochs=2, seed=1)
    trainer.fit(model, data)
    assert trainer.config == spec.train == cli_trainer.config
    for l in range(model.n_layers):
        np.testing.assert_array_equal(model.get_params(l), cli_model.get_params(l))
    assert [r["loss"] for r in trainer.history] == [r["loss"] for r in cli_trainer.history]


def test_python_api_equals_cli_for_a_photonic_chip(tmp_path):
    spec, _, cli_chip, cli_trainer = _cli(tmp_path, "photonic", "--ports", "4")
    data = load_dataset("iris", seed=1, standardize=False)
    chip = PhotonicChip.for_data(data, ports=4, seed=1)
    trainer = Trainer(paradigm="ffzero", epochs=2, seed=1)
    trainer.fit(chip, data)
    assert trainer.config.eps == 0.3  # the chip's recipe, not the paradigm's 1e-3
    assert trainer.config == spec.train == cli_trainer.config
    for l in range(chip.n_layers):
        np.testing.assert_array_equal(chip.get_params(l), cli_chip.get_params(l))
    assert trainer.evaluate(chip, data)["test_accuracy"] == cli_trainer.evaluate(cli_chip, data)["test_accuracy"]
    assert json.loads((tmp_path / "cli-photonic" / "run.json").read_text())["model_config"]["ports"] == 4


# ---------------------------------------------------------------- durable checkpoints, damaged ones, kills
def _one_error_line(err: str) -> bool:
    return err.startswith("ffzero: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_checkpoint_write_fsyncs_file_and_directory_then_renames(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", Path(b).name)) or real_replace(a, b))
    save_checkpoint(path, {"a": 1}, {"x": np.arange(3.0)})
    assert events == [("fsync", False), ("replace", "c.npz"), ("fsync", True)]
    meta, arrays = load_checkpoint(path)
    assert meta == {"a": 1} and arrays["x"].tolist() == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_a_failed_checkpoint_write_keeps_the_previous_one_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"n": 1}, {})

    def crash(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"n": 2}, {})
    monkeypatch.undo()
    assert load_checkpoint(path)[0] == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def _damage(run_dir: Path, kind: str) -> None:
    ckpt = run_dir / "checkpoint.npz"
    if kind == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    elif kind == "random bytes":
        ckpt.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "pickled object":
        np.save(open(ckpt, "wb"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "no metadata":
        np.savez(open(ckpt, "wb"), param_0=np.zeros(3))
    elif kind == "metadata lacks keys":
        save_checkpoint(ckpt, {"run": {}}, {})
    elif kind == "missing":
        ckpt.unlink()


@pytest.mark.parametrize("kind,match", [
    ("truncated", "is not a checkpoint"), ("random bytes", "is not a checkpoint"),
    ("pickled object", "is not a checkpoint"), ("no metadata", "has no metadata"),
    ("metadata lacks keys", "lacks trainer, model_config, counter"), ("missing", "no checkpoint at"),
])
def test_a_damaged_checkpoint_is_one_line_exit_2_for_evaluate_and_train(mlp_run, tmp_path, capsys, kind, match):
    _, out, _ = mlp_run
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    _damage(damaged, kind)
    before = sorted(p.name for p in damaged.iterdir())
    capsys.readouterr()
    assert main(["evaluate", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and match in err and "pickle" not in err, err
    if kind != "missing":  # a directory with outputs but no checkpoint is refused as "not empty"
        code = main(["train", "--model", "mlp", "--dataset", "iris", "--hidden", "8", "--epochs", "2", "--seed", "1",
                     "--out", str(damaged), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and _one_error_line(err) and match in err, err
    assert sorted(p.name for p in damaged.iterdir()) == before  # nothing written


@pytest.mark.parametrize("where", ["file", "under a file"])
def test_out_into_a_file_or_under_one_is_one_line_exit_2(tmp_path, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    out = blocker if where == "file" else blocker / "run"
    code = main(["train", "--model", "mlp", "--dataset", "iris", "--epochs", "1", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and _one_error_line(err) and "blocker" in err and "file" in err, err
    assert blocker.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
    with pytest.raises(UserInputError, match="lies under the file"):
        train_run(RunSpec(model="mlp", dataset="iris"), blocker / "a" / "b", progress=False, log=quiet)


@pytest.mark.parametrize("url", ["tcp://", "tcp://host:notaport", "tcp://[::1", "http://127.0.0.1:5555"])
def test_a_malformed_chip_url_is_one_line_exit_2(tmp_path, capsys, url):
    out = tmp_path / "run"
    code = main(["train", "--model", "photonic", "--chip", url, "--dataset", "iris", "--epochs", "1",
                 "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and _one_error_line(err) and "tcp://HOST:PORT" in err, err
    assert not out.exists()


def test_a_run_killed_before_its_first_checkpoint_restarts_from_zero(mlp_run, tmp_path):
    spec, _, metrics = mlp_run
    out = tmp_path / "killed"
    out.mkdir()
    (out / "run.json").write_text('{"spec": "from the killed process"}')
    (out / "checkpoint.npz.k2j4.tmp").write_bytes(b"half a checkpoint")
    (out / "run.json.tmp").write_text("{")
    messages = []
    again = train_run(spec, out, progress=False, log=messages.append)
    assert messages == [f"restarting {out} from zero: it was interrupted before its first checkpoint"]
    assert again["test_accuracy"] == metrics["test_accuracy"] and again["queries"] == metrics["queries"]
    assert read_run_record(out)["spec"] == spec.resolved().to_dict()
    assert not list(out.glob("*.tmp"))


def test_resume_removes_stale_temporaries_and_keeps_the_result(mlp_run, tmp_path):
    spec, out, metrics = mlp_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "checkpoint.npz.x1y2.tmp").write_bytes(b"partial")
    (copy / "metrics.json.a9.tmp").write_text("{")
    again = train_run(spec, copy, progress=False, log=quiet)
    assert again["test_accuracy"] == metrics["test_accuracy"]
    assert not list(copy.glob("*.tmp"))


def _interrupt_at(monkeypatch, when) -> None:
    """Stop training (as Ctrl-C would) right after the checkpoint write whose metadata satisfies ``when``."""
    real = run_module.save_checkpoint

    def save(path, meta, arrays):
        real(path, meta, arrays)
        if when(meta):
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "save_checkpoint", save)


def _at(position, step=None):
    return lambda meta: (meta["trainer"]["position"] == list(position)
                         and (meta["trainer"]["partial"] or {}).get("next_batch") == step)


def _comparable(meta: dict) -> dict:
    """A checkpoint's metadata without the wall-clock times."""
    trainer = dict(meta["trainer"], elapsed_s=None,
                   history=[{k: v for k, v in row.items() if k != "wall_time_s"} for row in meta["trainer"]["history"]])
    return dict(meta, trainer=trainer)


TWO_STAGES = RunSpec(model="mlp", dataset="iris", model_options={"hidden": [8]},
                     train=TrainConfig(epochs=2, seed=2, checkpoint_every=2))


@pytest.fixture(scope="module")
def two_stage_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    metrics = train_run(TWO_STAGES, out, progress=False, log=quiet)
    return load_checkpoint(out / "checkpoint.npz"), metrics


@pytest.mark.parametrize("when", [_at((0, 0), step=2), _at((0, 1)), _at((1, 0)), _at((1, 0), step=2)],
                         ids=["stage 0 inside epoch 0", "stage 0 after epoch 0", "end of stage 0", "stage 1 epoch 0"])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(two_stage_reference, tmp_path, monkeypatch, when):
    (ref_meta, ref_arrays), ref_metrics = two_stage_reference
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, when)
    with pytest.raises(KeyboardInterrupt):
        train_run(TWO_STAGES, out, progress=False, log=quiet)
    monkeypatch.undo()
    metrics = train_run(TWO_STAGES, out, progress=False, log=quiet)
    meta, arrays = load_checkpoint(out / "checkpoint.npz")
    assert _comparable(meta) == _comparable(ref_meta)
    assert sorted(arrays) == sorted(ref_arrays)
    for key in arrays:
        np.testing.assert_array_equal(arrays[key], ref_arrays[key])
    for key in ("test_accuracy", "queries", "query_calls", "layer_evals", "total_queries_incl_eval"):
        assert metrics[key] == ref_metrics[key], key


def test_every_counter_is_identical_after_a_resume_in_a_later_stage(two_stage_reference, tmp_path, monkeypatch):
    (ref_meta, _), ref_metrics = two_stage_reference
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, _at((1, 1)))  # after the first stage-1 epoch, which scored layer 0 on val
    with pytest.raises(KeyboardInterrupt):
        train_run(TWO_STAGES, out, progress=False, log=quiet)
    monkeypatch.undo()
    metrics = train_run(TWO_STAGES, out, progress=False, log=quiet)
    assert load_checkpoint(out / "checkpoint.npz")[0]["counter"] == ref_meta["counter"]
    assert metrics["total_queries_incl_eval"] == ref_metrics["total_queries_incl_eval"]


PHYSICAL = RunSpec(model="photonic", dataset="iris",
                   model_options={"model": "physical", "ports": 4, "layers": 2},
                   train=TrainConfig(epochs=2, seed=3, checkpoint_every=2))


@pytest.fixture(scope="module")
def physical_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("physical") / "run"
    metrics = train_run(PHYSICAL, out, progress=False, log=quiet)
    return out, load_checkpoint(out / "checkpoint.npz"), metrics


def test_a_resumed_physical_chip_run_reads_the_same_noise_and_drift_as_an_uninterrupted_one(
        physical_reference, tmp_path, monkeypatch):
    _, (ref_meta, ref_arrays), ref_metrics = physical_reference
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, _at((0, 0), step=2))
    with pytest.raises(KeyboardInterrupt):
        train_run(PHYSICAL, out, progress=False, log=quiet)
    monkeypatch.undo()
    metrics = train_run(PHYSICAL, out, progress=False, log=quiet)
    meta, arrays = load_checkpoint(out / "checkpoint.npz")
    assert meta["sim_state"] == ref_meta["sim_state"]
    for l in range(2):  # the DD steps read noisy detectors: a fresh noise stream after the resume moves every phase
        np.testing.assert_array_equal(arrays[f"param_{l}"], ref_arrays[f"param_{l}"])
    assert metrics["test_accuracy_per_layer"] == ref_metrics["test_accuracy_per_layer"]


def test_a_reloaded_physical_run_continues_the_chips_noise_drift_and_clock(physical_reference):
    out, (ref_meta, _), _ = physical_reference
    _, _, model, _ = load_run(out)
    state = model.sim_state()
    assert state == ref_meta["sim_state"] and state["physical"]["elapsed_s"] > 0
    fresh = model_from_config("photonic", model.to_config()).sim_state()
    assert fresh["physical"]["noise"] != state["physical"]["noise"]
