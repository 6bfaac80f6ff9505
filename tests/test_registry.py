"""The model registry: built-in kinds, option specs, recipes, and a third-party model installed by entry point."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from ffzero_photonics.blackbox import ForwardingBlackBox, PersistentModel
from ffzero_photonics.data import load_dataset
from ffzero_photonics.digital.cnn import CNN
from ffzero_photonics.digital.mlp import MLP
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.registry import (
    ENTRY_POINT_GROUP, ModelEntry, OptionSpec, available_models, build_model, get_model, model_from_config, recipe_for,
)
from ffzero_photonics.runs import RunSpec, load_run, train_run
from ffzero_photonics.trainer import Trainer, TrainConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "custom_model"


def install_example(site: Path, value: str | None = None) -> Path:
    """A dist-info for examples/custom_model on ``site``, with the entry points its pyproject.toml declares."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    points = project["entry-points"][ENTRY_POINT_GROUP]
    if value is not None:
        points = {name: value for name in points}
    info = site / f"ffzero_rff-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(install_example(tmp_path / "site")))
    return tmp_path


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris", seed=0)


def test_builtins_and_unknown_names():
    assert list(available_models())[:3] == ["mlp", "cnn", "photonic"]
    assert get_model("photonic").recipe == {"eps": 0.3} and get_model("photonic").standardize is False
    with pytest.raises(UserInputError, match="unknown model 'resnet'; choose one of mlp, cnn, photonic"):
        get_model("resnet")


def test_options_are_checked_and_name_the_bad_value(iris):
    mlp = get_model("mlp")
    assert mlp.option("hidden").default == (100, 100, 100) and mlp.option("hidden").is_list
    assert mlp.check_options({"hidden": (8, 4)}) == {"hidden": [8, 4]}
    with pytest.raises(UserInputError, match="option 'activation': unknown value 'swish'; choose one of tanh"):
        mlp.check_options({"activation": "swish"})
    with pytest.raises(UserInputError, match="option 'hidden' takes a list of int, got '8'"):
        mlp.check_options({"hidden": "8"})
    with pytest.raises(UserInputError, match="option 'ports' does not apply to model 'mlp'; it takes hidden, activation"):
        build_model("mlp", iris, ports=4)
    with pytest.raises(UserInputError, match="option name must be a Python identifier, got 'a-b'"):
        OptionSpec("a-b")
    with pytest.raises(UserInputError, match="the cnn model needs image data; dataset 'iris'"):
        build_model("cnn", iris)


def test_build_and_rebuild_from_config(iris):
    model = build_model("mlp", iris, seed=2, hidden=[5])
    assert isinstance(model, MLP) and model.widths == (4, 5, 3) and isinstance(model, PersistentModel)
    again = model_from_config("mlp", model.to_config())
    np.testing.assert_array_equal(again.get_params(0), model.get_params(0))
    cnn = CNN(image_shape=(6, 6), channels=(2,), seed=1)
    assert model_from_config("cnn", cnn.to_config()).to_config() == cnn.to_config()


def test_recipe_comes_from_the_kind_through_wrappers(iris):
    chip = PhotonicChip(4, ports=4, layers=1)
    assert recipe_for(chip) == {"eps": 0.3} == recipe_for(ForwardingBlackBox(ForwardingBlackBox(chip)))
    assert recipe_for(MLP((4, 3))) == {}

    class Tuned(MLP):
        train_recipe = {"lr": 0.05}

    model = Tuned((4, 3))
    assert recipe_for(model) == {"lr": 0.05}
    trainer = Trainer(epochs=1, eps=0.01)
    trainer.fit(model, iris)
    assert (trainer.config.lr, trainer.config.eps, trainer.config.batch_size) == (0.05, 0.01, 16)


def test_a_bad_recipe_key_is_named():
    with pytest.raises(UserInputError, match="model recipe sets unknown training field 'learning_rate'"):
        TrainConfig().resolved({"learning_rate": 1.0})


def test_third_party_model_registers_by_entry_point(plugin, iris):
    entry = get_model("rff")
    assert entry.name == "rff" and "rff" in available_models()
    model = entry.build(iris, seed=0, features=16)
    assert recipe_for(model) == {"lr": 1e-2}
    trainer = Trainer(epochs=1, seed=0)
    trainer.fit(model, iris)
    assert trainer.config.lr == 1e-2
    spec = RunSpec(model="rff", dataset="iris", model_options={"features": 16}, train=TrainConfig(epochs=1))
    metrics = train_run(spec, plugin / "run", progress=False, log=lambda m: None)
    _, _, loaded, _ = load_run(plugin / "run")
    assert type(loaded).__name__ == "RandomFeatures" and loaded.to_config()["features"] == 16
    assert metrics["config"]["train"]["lr"] == 1e-2


def test_entry_point_may_be_a_factory_and_must_name_itself(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    module = tmp_path / "h2_factory.py"
    module.write_text("import ffzero_rff\n"
                      "def rff():\n    return ffzero_rff.ENTRY\n"
                      "def wrong():\n    import dataclasses\n    return dataclasses.replace(ffzero_rff.ENTRY, name='other')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(install_example(tmp_path / "good", "h2_factory:rff")))
    assert get_model("rff").recipe == {"lr": 1e-2}
    monkeypatch.syspath_prepend(str(install_example(tmp_path / "bad", "h2_factory:wrong")))
    with pytest.raises(TypeError, match="registers a model named 'other'"):
        get_model("rff")


def test_model_entry_validates_itself():
    with pytest.raises(UserInputError, match="build must be callable"):
        ModelEntry(name="x", description="", build=None, from_config=dict)
    with pytest.raises(UserInputError, match="option names repeat"):
        ModelEntry(name="x", description="", build=dict, from_config=dict, options=(OptionSpec("a"), OptionSpec("a")))


def test_cli_trains_the_installed_example(tmp_path):
    """One file and one registration line: `ffzero train --model rff --features 16` (a fresh process sees it)."""
    site = install_example(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    out = tmp_path / "run"
    code = ("import sys; from ffzero_photonics.cli import main; "
            f"sys.exit(main(['train', '--model', 'rff', '--features', '16', '--dataset', 'iris', '--epochs', '2', "
            f"'--out', {str(out)!r}, '--no-progress']))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "test accuracy" in proc.stdout
    assert (out / "metrics.json").exists() and (out / "run.json").exists()
