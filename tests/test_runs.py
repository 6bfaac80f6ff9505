"""Run directories: provenance, named checkpoints, user errors, resume records, and Python API == CLI."""

import json
import re
from datetime import datetime, timezone

import numpy as np
import pytest

from ffzero_photonics.cli import main
from ffzero_photonics.data import load_dataset
from ffzero_photonics.digital.mlp import MLP
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.runs import RunSpec, load_run, read_run_record, train_run
from ffzero_photonics.runs.checkpoint import load_checkpoint, load_params, param_arrays
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
