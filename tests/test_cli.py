"""The ffzero command: outputs of a run, evaluate, resume, help, list, chip configs, and exit codes by cause."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ffzero_photonics
from ffzero_photonics.cli import main
from ffzero_photonics.data import DATASET_NAMES
from ffzero_photonics.errors import ExternalFailure
from ffzero_photonics.trainer import PARADIGM_DEFAULTS, PARADIGMS, Trainer

FAST = ["--epochs", "2", "--hidden", "16", "--batch-size", "64", "--no-progress"]
EXAMPLE_CHIP = Path(__file__).resolve().parents[1] / "examples" / "chip.toml"


def _one_error_line(err: str) -> bool:
    return err.startswith("ffzero: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_train_writes_a_complete_run_and_evaluate_reloads_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    for name in ("metrics.json", "history.csv", "learning_curves.png", "confusion_matrix.png", "checkpoint.npz"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "test_accuracy_last", "queries", "wall_time_s", "config"):
        assert key in m
    assert m["config"]["train"]["paradigm"] == "ffzero" and m["queries"] > 0
    assert m["config"]["train"]["lr"] == PARADIGM_DEFAULTS["ffzero"]["lr"]  # the recipe fills what was not given
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
    (["--model", "transformer"], "--model: unknown model 'transformer'; choose one of mlp, cnn, photonic"),
    (["--paradigm", "bp-xx"], "unknown paradigm 'bp-xx'"),
    (["--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["--dataset", "idx:/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--epochs", "0"], "--epochs: must be positive, got 0"),
    (["--epochs", "many"], "--epochs: expected an integer, got 'many'"),
    (["--lr", "-0.1"], "--lr: must be a positive finite number"),
    (["--lr", "nan"], "--lr: must be a positive finite number"),
    (["--eps", "0"], "--eps: must be a positive finite number"),
    (["--dirs", "0"], "--dirs: must be positive"),
    (["--hidden", "10,x"], "--hidden: expected comma-separated integers"),
    (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'"),
    (["--seed", "-1"], "--seed: must be >= 0"),
    (["--model", "photonic", "--hidden", "8"], "--hidden does not apply to --model photonic"),
    (["--nonideal", "combined:medium"], "--nonideal: only for --model photonic, got --model mlp"),
    (["--model", "photonic", "--nonideal", "warp:medium"], "unknown effect 'warp'"),
    (["--model", "photonic", "--nonideal", "combined"], "EFFECT:LEVEL"),
    (["--chip-config", "/nonexistent/chip.toml"], "/nonexistent/chip.toml"),
    (["--no-such-flag"], "no such option '--no-such-flag'"),
    (["--dataset", "NPZ_NAN"], "NaN"),
    (["--dataset", "NPZ_MISMATCH"], "20"),
    (["--loss", "mse"], "loss 'mse' is for regression targets; a 10-class data set"),
    (["--dataset", "f1", "--loss", "hinge"], "loss 'hinge' scores classes; a regression data set takes 'mse'"),
    (["--dataset", "f1", "--loss", "ce"], "loss 'ce' scores classes"),
    (["--loss", "ce", "--temperature", "0"], "--temperature: must be a positive finite number"),
    (["--layer-epochs", "2,0"], "--layer-epochs: expected positive integers, got '2,0'"),
    (["--layer-epochs", "1,1"], "layer_epochs has 2 entries but the model trains 4 layers: give one per layer"),
    (["--paradigm", "bp-ad", "--layer-epochs", "1,1,1,1"], "layer_epochs is for the layer-wise paradigms"),
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
    assert _one_error_line(err), err
    assert match.lower() in err.lower(), err
    assert not out.exists()


@pytest.mark.parametrize("module", ["ffzero_photonics", "ffzero_photonics.cli"])
def test_no_traceback_from_the_module_entry_points(tmp_path, module):
    proc = subprocess.run([sys.executable, "-m", module, "train", "--epochs", "-3"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert _one_error_line(proc.stderr), proc.stderr
    assert not (tmp_path / "runs").exists()


def test_evaluate_missing_run_dir(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and "nope" in err and "does not exist" in err


def test_refuses_to_mix_runs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--lr", "0.5", *FAST]) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and "different configuration (train.lr)" in err


# ---------------------------------------------------------------- exit codes by cause
def _raise_in_training(monkeypatch, exc):
    def fit(self, *args, **kwargs):
        raise exc

    monkeypatch.setattr(Trainer, "fit", fit)


@pytest.mark.parametrize("exc", [RuntimeError("boom inside training"), ValueError("boom inside training"),
                                 TypeError("boom inside training"), EOFError("boom inside training"),
                                 FileNotFoundError("boom inside training")])
def test_a_bug_inside_training_shows_its_traceback_and_exits_1(tmp_path, capsys, monkeypatch, exc):
    _raise_in_training(monkeypatch, exc)
    assert main(["train", "--out", str(tmp_path / "run"), *FAST]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert f"{type(exc).__name__}: boom inside training" in err
    assert not err.startswith("ffzero: error:")


def test_an_external_failure_is_one_line_and_exits_3(tmp_path, capsys, monkeypatch):
    _raise_in_training(monkeypatch, ExternalFailure("chip server at tcp://127.0.0.1:1 stopped answering"))
    assert main(["train", "--out", str(tmp_path / "run"), *FAST]) == 3
    err = capsys.readouterr().err
    assert _one_error_line(err) and "stopped answering" in err


def test_a_full_disk_is_an_external_failure(tmp_path, capsys, monkeypatch):
    import errno

    _raise_in_training(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    assert main(["train", "--out", str(tmp_path / "run"), *FAST]) == 3
    err = capsys.readouterr().err
    assert _one_error_line(err) and "No space left on device" in err


def test_ctrl_c_prints_the_resume_hint_and_exits_130(tmp_path, capsys, monkeypatch):
    _raise_in_training(monkeypatch, KeyboardInterrupt())
    assert main(["train", "--out", str(tmp_path / "run"), *FAST]) == 130
    assert "re-run the same command to resume" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_chip_server_exits_3(tmp_path, capsys):
    url = f"tcp://127.0.0.1:{_free_port()}"
    code = main(["train", "--model", "photonic", "--chip", url, "--chip-timeout", "0.5", "--dataset", "iris",
                 "--out", str(tmp_path / "run"), "--epochs", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert _one_error_line(err) and "127.0.0.1" in err


# ---------------------------------------------------------------- help, version, list, completion
def test_version_and_help_show_choices_and_generated_defaults(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ffzero {ffzero_photonics.__version__}"
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for choices in ("[mlp|cnn|photonic|cnn1d]", f"[{'|'.join(PARADIGMS)}]", "[sgd|adam]", "[constant|cosine]",
                    "[central|forward]", "[sphere|gaussian]", "[clements|reck]", "[auto|simplex|onehot]",
                    "[tanh|relu|leaky_relu|gelu|sigmoid|none]", f"[{'|'.join(DATASET_NAMES)}]"):
        assert choices in text, choices
    lr = ", ".join(f"{p} {PARADIGM_DEFAULTS[p]['lr']:g}" for p in PARADIGMS)
    assert f"[default: {lr}]" in text
    assert "photonic 0.3" in text and "[default: mlp 100,100,100]" in text
    for command in (["export-gds"], ["verify"], ["chip", "serve"], ["study", "robustness"], ["sweep"], ["list"]):
        assert main([*command, "--help"]) == 0
        assert "Usage: ffzero " + " ".join(command) in capsys.readouterr().out
    assert main([]) == 2  # bare: the command list, as a usage error
    err = capsys.readouterr().err
    assert "Commands:" in err and "_FFZERO_COMPLETE=bash_source ffzero" in err


def test_list_prints_models_datasets_meshes_and_presets(capsys):
    from ffzero_photonics.photonic.nonideal_config import EFFECTS, LEVELS
    from ffzero_photonics.registry import available_models

    assert main(["list", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert set(found["models"]) == set(available_models())
    assert found["models"]["mlp"]["options"]["hidden"]["default"] == [100, 100, 100]
    assert found["models"]["photonic"]["recipe"] == {"eps": 0.3}
    assert {"digits", "iris", "wine", "f1", "f2", "idx:PATH", "npz:PATH"} <= set(found["datasets"])
    assert found["models"]["photonic"]["options"]["mesh"]["choices"] == found["meshes"]
    assert found["meshes"] == ["clements", "reck"]
    normalized, physical = found["nonideal"]["normalized"], found["nonideal"]["physical"]
    assert set(normalized) == set(EFFECTS) and all(set(v) == set(LEVELS) for v in normalized.values())
    assert normalized["dac"]["medium"] == {"drive": {"dac_bits": 8}}
    assert physical["dac"]["medium"] == {"heaters": {"dac_bits": 8}}
    assert physical["laser"]["high"] == {"budget": {"laser_power_mW": 0.1}}
    assert main(["list", "nonideal"]) == 0
    text = capsys.readouterr().out
    assert "normalized (the paper chip's" in text and "physical (a physical chip's" in text and "budget.laser_power_mW=0.1" in text
    assert main(["list", "meshes"]) == 0
    assert capsys.readouterr().out.split() == ["meshes:", "clements,", "reck"]
    assert main(["list", "hardware"]) == 2
    assert "unknown topic 'hardware'" in capsys.readouterr().err


def _complete(monkeypatch, capsys, **env) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_shell_completion_is_clicks(monkeypatch, capsys):
    script = _complete(monkeypatch, capsys, _FFZERO_COMPLETE="bash_source")
    assert "_FFZERO_COMPLETE=bash_complete" in script and "complete " in script
    words = _complete(monkeypatch, capsys, _FFZERO_COMPLETE="bash_complete", COMP_WORDS="ffzero train --parad",
                      COMP_CWORD="2")
    assert "--paradigm" in words
    words = _complete(monkeypatch, capsys, _FFZERO_COMPLETE="bash_complete", COMP_WORDS="ffzero train --optimizer ",
                      COMP_CWORD="3")
    assert "sgd" in words and "adam" in words


# ---------------------------------------------------------------- layouts
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
    from ffzero_photonics.runs import load_run

    model = load_run(run)[2]
    by_name = {r["heater"]: float(r["phase_rad"]) for r in rows}
    names = model.layer_info(1).param_names
    np.testing.assert_allclose([by_name[n] for n in names], model.get_params(1), atol=1e-9)


@pytest.mark.parametrize("args,match", [
    (["--out", "chip.txt"], "--out: must name a .gds file"),
    (["--mesh", "hex", "--out", "c.gds"], "unknown mesh topology 'hex'"),
    (["--ports", "0", "--out", "c.gds"], "--ports: must be positive"),
    (["--from", "NOPE", "--out", "c.gds"], "does not exist"),
    (["--from", "HERE", "--mesh", "reck", "--out", "c.gds"], "drop --config/--mesh/--ports/--layers"),
])
def test_export_gds_bad_input(tmp_path, capsys, args, match):
    args = [str(tmp_path / "nope") if a == "NOPE" else str(tmp_path) if a == "HERE" else a for a in args]
    args = [str(tmp_path / a) if a.endswith((".gds", ".txt")) else a for a in args]
    assert main(["export-gds", *args]) == 2
    err = capsys.readouterr().err
    assert match in err and _one_error_line(err), err
    assert not list(tmp_path.glob("*.gds"))


# ---------------------------------------------------------------- one chip config for every command
@pytest.fixture(scope="module")
def small_example(tmp_path_factory):
    """examples/chip.toml with every table as written, at a bounded size (4 ports, 1 layer)."""
    from ffzero_photonics.photonic.chip_config import ChipConfig

    path = tmp_path_factory.mktemp("config") / "chip.toml"
    config = ChipConfig.from_toml(EXAMPLE_CHIP).with_overrides(ports=4, layers=1)
    config.to_toml(path)
    return path, config


@pytest.fixture(scope="module")
def example_run(tmp_path_factory, small_example):
    """A photonic run trained with the (bounded) example chip config, and its exported layout."""
    tmp = tmp_path_factory.mktemp("example")
    run, gds = tmp / "run", tmp / "trained.gds"
    assert main(["train", "--model", "photonic", "--chip-config", str(small_example[0]), "--dataset", "iris",
                 "--epochs", "1", "--batch-size", "64", "--out", str(run), "--no-progress"]) == 0
    assert main(["export-gds", "--from", str(run), "--out", str(gds)]) == 0
    return run, gds


def test_train_builds_the_chip_of_the_example_config(example_run, small_example):
    config = small_example[1]
    trained = json.loads((example_run[0] / "metrics.json").read_text())["model_config"]
    assert (trained["ports"], trained["layers"], trained["mesh"]) == (config.chip.ports, config.chip.layers,
                                                                      config.chip.mesh)


def test_verify_checks_the_example_config_then_verifies(example_run, small_example, capsys, monkeypatch):
    import ffzero_photonics.tapeout as tapeout

    run, gds = example_run
    calls = []

    class Report:
        passed = True

        def text(self):
            return "stub report"

    monkeypatch.setattr(tapeout, "verify_run", lambda *a, **kw: calls.append((a, kw)) or Report())
    capsys.readouterr()
    assert main(["verify", str(run), "--gds", str(gds), "--config", str(small_example[0]), "--tol", "1e-3"]) == 0
    assert capsys.readouterr().out.strip() == "stub report"
    (args, kwargs), = calls
    assert args == (str(run), str(gds)) and kwargs["tol"] == 1e-3 and kwargs["route_phases"] == "auto"


def test_verify_compares_a_physical_runs_physics_tables_with_the_config(example_run, small_example, tmp_path, capsys):
    from ffzero_photonics.photonic.chip_config import ChipConfig

    run, gds = example_run
    config = small_example[1]
    other = tmp_path / "hot.toml"
    ChipConfig.from_dict({**config.to_dict(), "heaters": {**config.heaters.to_dict(), "p_pi_mW": 30.0}}).to_toml(other)
    paper = tmp_path / "paper.toml"
    paper.write_text("[chip]\nports = 4\nlayers = 1\n")
    for path, words in ((other, "[heaters] differs"), (paper, "[chip] model = 'paper'")):
        capsys.readouterr()
        assert main(["verify", str(run), "--gds", str(gds), "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert _one_error_line(err) and words in err and str(path) in err, err
    assert main(["verify", str(run), "--gds", str(gds), "--config", str(small_example[0])]) == 0
    assert "PASS" in capsys.readouterr().out


def test_export_gds_reads_a_physical_configs_heaters(tmp_path):
    from ffzero_photonics.cli.export_gds import design_from_config

    path = tmp_path / "chip.toml"
    path.write_text('[chip]\nmodel = "physical"\nports = 4\n[heaters]\np_pi_mW = 30.0\nresistance_ohm = 800.0\n')
    assert design_from_config(str(path))["heaters"] == {"p_pi_mW": 30.0, "resistance_ohm": 800.0}
    path.write_text('[chip]\nports = 4\n[nonideal.drive]\np_pi_mW = 11.0\n')  # the paper chip: [nonideal.drive]
    assert design_from_config(str(path))["heaters"] == {"p_pi_mW": 11.0, "resistance_ohm": 1000.0}


def test_chip_serve_checks_the_example_config(capsys):
    from ffzero_photonics.photonic.chip_config import ChipConfig

    config = ChipConfig.from_toml(EXAMPLE_CHIP)
    assert main(["chip", "serve", "--config", str(EXAMPLE_CHIP), "--check"]) == 0
    heaters = config.chip.ports ** 2  # per layer: N(N-1)/2 MZIs x 2 heaters + N output heaters
    assert f"{config.chip.layers} layers, heaters per layer {[heaters] * config.chip.layers}" in capsys.readouterr().out


def test_export_gds_takes_the_example_config(tmp_path, small_example):
    path, config = small_example
    gds = tmp_path / "chip.gds"
    assert main(["export-gds", "--config", str(path), "--out", str(gds)]) == 0
    rows = (tmp_path / "chip_heaters.csv").read_text().splitlines()
    assert gds.is_file() and len(rows) - 1 == config.chip.layers * config.chip.ports ** 2


def test_study_takes_its_chip_from_the_config(tmp_path, monkeypatch):
    import ffzero_photonics.studies.robustness as robustness

    design = tmp_path / "design.toml"
    design.write_text("[chip]\nports = 4\nlayers = 1\n[instrument]\nlatency_s = 0.002\n")
    seen = {}
    monkeypatch.setattr(robustness, "run_robustness", lambda out, **kw: seen.update(kw) or {"wall_time_s": 0.0})
    assert main(["study", "robustness", "--out", str(tmp_path / "study"), "--bounded", "--seeds", "1",
                 "--chip-config", str(design)]) == 0
    assert (seen["ports"], seen["layers"], seen["bounded"], seen["seeds"]) == (4, 1, True, 1)
    other = tmp_path / "nonideal.toml"
    other.write_text("[chip]\nports = 4\n[nonideal.crosstalk]\nkappa = 0.05\n")
    seen.clear()
    assert main(["study", "robustness", "--out", str(tmp_path / "study"), "--chip-config", str(other)]) == 2
    assert not seen


def test_study_takes_a_physical_chips_whole_config(tmp_path, monkeypatch):
    import ffzero_photonics.studies.robustness as robustness

    seen = {}
    monkeypatch.setattr(robustness, "run_robustness", lambda out, **kw: seen.update(kw) or {"wall_time_s": 0.0})
    assert main(["study", "robustness", "--out", str(tmp_path / "study"), "--bounded",
                 "--chip-config", str(EXAMPLE_CHIP)]) == 0
    assert (seen["ports"], seen["layers"]) == (16, 2) and seen["chip_config"]["chip"] == {"model": "physical"}
    seeded = tmp_path / "seeded.toml"
    seeded.write_text('[chip]\nmodel = "physical"\nseed = 3\n')
    seen.clear()
    assert main(["study", "robustness", "--out", str(tmp_path / "study"), "--chip-config", str(seeded)]) == 2
    assert not seen


def test_chip_serve_serves_until_sigterm(tmp_path):
    from ffzero_photonics.lab import RemoteChip

    config = tmp_path / "chip.toml"
    config.write_text("[chip]\nports = 4\nlayers = 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "ffzero_photonics", "chip", "serve", "--config", str(config),
                             "--latency-s", "0.5", "--no-log"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("tcp://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        remote = RemoteChip(url, timeout_s=20.0)
        assert remote.query(np.ones((3, remote.n_inputs)), 0).shape[:2] == (1, 3)
        assert remote.server_counter()["lab_time_s"] == pytest.approx(0.5)
        remote.close()
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        assert "chip server stopped after" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chip.toml"]  # --no-log: no log file


def test_verify_refuses_a_config_that_is_not_the_runs_chip(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "photonic", "--ports", "4", "--layers", "1", "--dataset", "iris",
                 "--out", str(run), "--epochs", "1", "--no-progress"]) == 0
    gds = tmp_path / "t.gds"
    assert main(["export-gds", "--from", str(run), "--out", str(gds)]) == 0
    other = tmp_path / "other.toml"
    other.write_text("[chip]\nports = 8\nlayers = 1\n")
    capsys.readouterr()
    assert main(["verify", str(run), "--gds", str(gds), "--config", str(other)]) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and "[chip] ports" in err and "8" in err and "4" in err


@pytest.mark.parametrize("text,match", [
    ("[chip]\nportz = 16\n", "portz"),
    ("[chip]\nlayers = 0\n", "layers"),
    ("[chip\n", "not valid TOML"),
    ("[heater]\n", "unknown table"),
])
def test_a_bad_chip_config_is_one_line_for_every_command(tmp_path, capsys, text, match):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    for command in (["chip", "serve", "--config", str(bad), "--check"],
                    ["train", "--model", "photonic", "--chip-config", str(bad), "--out", str(tmp_path / "r")],
                    ["export-gds", "--config", str(bad), "--out", str(tmp_path / "c.gds")]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert _one_error_line(err) and match in err and str(bad) in err, (command, err)
