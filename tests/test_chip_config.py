"""ChipConfig: one validated CHIP.toml for every command; the one forward pipeline; no global jax x64 flag."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.photonic.chip_config import ChipConfig, ChipSection, InstrumentSection, build_chip
from ffzero_photonics.photonic.forward import forward_powers
from ffzero_photonics.photonic.nonideal_config import Crosstalk, Drive, NonIdealConfig, severity_preset

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chip.toml"
X = np.random.default_rng(5).random((4, 16))


def _rich_config() -> ChipConfig:
    return ChipConfig(
        chip=ChipSection(mesh="reck", ports=9, layers=3, init="uniform", alpha=0.2, wavelength_um=1.56,
                         instance_seed=2, seed=7, n_features=9, image_shape=(3, 3)),
        nonideal=severity_preset("combined", "medium").replace(crosstalk=Crosstalk(kappa=0.02, positions="grid")),
        instrument=InstrumentSection(p_pi_mW=25.0, max_power_mW={"L0_mzi_c0_r0_theta": 30.0}, latency_s=0.01,
                                     sleep=True),
    )


@pytest.mark.parametrize("compact", [False, True])
def test_toml_round_trip(tmp_path, compact):
    config = _rich_config()
    path = tmp_path / "chip.toml"
    config.to_toml(path, compact=compact)
    assert ChipConfig.from_toml(path) == config
    assert ChipConfig.from_dict(json.loads(json.dumps(config.to_dict(compact=compact)))) == config
    assert ChipConfig.from_toml(_written(tmp_path, ChipConfig())) == ChipConfig()


def _written(tmp_path, config):
    path = tmp_path / "default.toml"
    config.to_toml(path)
    return path


def test_example_file_uses_every_table_and_loads():
    from ffzero_photonics.photonic.physical import PHYSICS_COVERS

    text = EXAMPLE.read_text()
    for table in ChipConfig.tables():
        assert f"[{table}" in text
    for section in NonIdealConfig().to_dict():
        assert (f"[nonideal.{section}]" in text) == (section not in PHYSICS_COVERS)  # the physics models the rest
    config = ChipConfig.from_toml(EXAMPLE)
    assert config.is_physical and config.chip.ports == 16 and config.nonideal.is_ideal
    assert config.instrument == InstrumentSection()
    paper = (EXAMPLE.parent / "paper_chip.toml").read_text()
    for section in NonIdealConfig().to_dict():
        assert f"[nonideal.{section}]" in paper


@pytest.mark.parametrize(
    "text, words",
    [
        ("[chip]\nportz = 16\n", ["[chip]", "portz"]),
        ("[chip]\nports = 1\n", ["[chip] ports", "1"]),
        ("[chip]\nports = 'many'\n", ["[chip] ports", "'many'"]),
        ("[chip]\nalpha = 1.0\n", ["[chip] alpha", "1.0"]),
        ("[chip]\nmesh = 'hexagon'\n", ["[chip] mesh", "hexagon"]),
        ("[chip]\nimage_shape = [8]\n", ["[chip] image_shape", "[8]"]),
        ("[chip]\nn_features = 10\nimage_shape = [3, 3]\n", ["image_shape", "n_features = 10"]),
        ("[chip]\nwavelength_um = true\n", ["[chip] wavelength_um", "True"]),
        ("[nonideal.drive]\ndac_bits = 0\n", ["[nonideal.drive] dac_bits", "0"]),
        ("[nonideal.fab]\ncoupler_std = 0.1\n", ["[nonideal]", "'fab'"]),
        ("[nonideal.crosstalk]\npositions = 'random'\n", ["[nonideal.crosstalk] positions", "random"]),
        ("[instrument]\nlatency_s = -1\n", ["[instrument] latency_s", "-1"]),
        ("[instrument]\nsleep = 1\n", ["[instrument] sleep", "1"]),
        ("[instrument]\nmax_power_mW = [10.0, -2.0]\n", ["[instrument] max_power_mW", "-2.0"]),
        ("[heater]\nx = 1\n", ["unknown table [heater]"]),
        ("chip = 3\n", ["[chip]", "3"]),
        ("[chip\n", ["not valid TOML"]),
    ],
)
def test_bad_files_are_one_line_naming_table_key_and_value(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserInputError) as err:
        ChipConfig.from_toml(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)), message
    for word in words:
        assert word in message, (word, message)


def test_missing_file_and_json_files(tmp_path):
    with pytest.raises(UserInputError, match="no chip configuration"):
        ChipConfig.from_toml(tmp_path / "nope.toml")
    path = tmp_path / "chip.json"
    path.write_text(json.dumps(_rich_config().to_dict()))
    assert ChipConfig.from_file(path) == _rich_config()
    path.write_text("{not json")
    with pytest.raises(UserInputError, match="not valid JSON"):
        ChipConfig.from_file(path)


def test_overrides_are_validated_and_nonideal_merges():
    config = ChipConfig().with_overrides(ports=8, wavelength_um=1.6)
    assert (config.chip.ports, config.chip.wavelength_um, config.chip.layers) == (8, 1.6, 2)
    with pytest.raises(UserInputError, match=r"\[chip\] ports must be an integer >= 2, got 0"):
        config.with_overrides(ports=0)
    with pytest.raises(UserInputError, match=r"\[chip\] unknown key 'port'"):
        config.with_overrides(port=4)
    merged = config.with_nonideal(NonIdealConfig(drive=Drive(dac_bits=8))).with_nonideal({"drift": {"sigma": 0.1}})
    assert merged.nonideal.drive.dac_bits == 8 and merged.nonideal.drift.sigma == 0.1
    assert merged.with_nonideal(None, merge=False).nonideal.is_ideal


def test_build_chip_equals_the_chip_built_by_hand():
    config = _rich_config()
    chip = build_chip(config)
    by_hand = PhotonicChip(9, mesh="reck", ports=9, layers=3, init="uniform", alpha=0.2, wavelength_um=1.56,
                           instance_seed=2, seed=7, image_shape=(3, 3), nonideal=config.nonideal)
    x = X[:, :9]
    for layer in range(3):
        np.testing.assert_array_equal(chip.query(x, layer), by_hand.query(x, layer))
    assert build_chip(config, seed=3).to_config()["seed"] == 3
    with pytest.raises(UserInputError, match="n_features"):
        build_chip(ChipConfig())


def test_build_chip_takes_sizes_from_the_data():
    from ffzero_photonics.data import load_dataset

    data = load_dataset("iris", seed=0)
    chip = build_chip({"chip": {"ports": 4, "layers": 1}}, data, seed=1)
    assert chip.n_inputs == data.X_train.shape[1] == 4
    with pytest.raises(UserInputError, match="n_features = 9"):
        build_chip(ChipConfig().with_overrides(n_features=9), data)


def test_model_options_carry_the_whole_config():
    config = _rich_config()
    options = {"chip_config": config.to_dict(compact=True), "ports": 16, "nonideal": {"drift": {"sigma": 0.5}}}
    again = ChipConfig.from_model_options(options)
    assert again.chip.ports == 16 and again.nonideal.drift.sigma == 0.5
    assert again.instrument == config.instrument and again.chip.mesh == "reck"
    flat = ChipConfig.from_model_options({"ports": 4, "wavelength_um": 1.56})
    assert flat == ChipConfig().with_overrides(ports=4, wavelength_um=1.56)


def test_instrument_kwargs_build_the_simulated_instrument():
    from ffzero_photonics.lab.instrument import SimulatedInstrument

    config = ChipConfig(instrument=InstrumentSection(p_pi_mW=25.0, max_power_mW=30.0, settle_s=1e-3))
    chip = build_chip(config.with_overrides(n_features=16, layers=1))
    instrument = SimulatedInstrument(chip, **config.instrument.instrument_kwargs())
    limits = instrument.describe().layers[0].max_power_mW
    assert set(limits) == {30.0} and instrument.p_pi_mW == 25.0


# ---------------------------------------------------------------- one forward pipeline
def test_forward_powers_with_layout_matrices_equals_the_chip_query():
    """What layout verification runs (fixed matrices per layer) equals the chip's own query."""
    chip = PhotonicChip(16, ports=16, layers=3, seed=4)
    transfers = [lambda f, u=chip.unitary(l): f @ u.T for l in range(3)]
    for layer in range(3):
        got = forward_powers(chip.input_fields(X)[None], transfers[: layer + 1], chip.activation, chip.n_layers)
        np.testing.assert_allclose(got, chip.query(X, layer), rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="1..3"):
        forward_powers(chip.input_fields(X), transfers * 2, chip.activation, chip.n_layers)


# ---------------------------------------------------------------- no global jax flag
_NO_FLAG_SCRIPT = textwrap.dedent("""
    import sys
    import jax
    import numpy as np
    import ffzero_photonics
    from ffzero_photonics.photonic import activation, chip, chip_config, compiled, effects, forward, nonideal_config
    from ffzero_photonics.method import optim
    c = chip.PhotonicChip(4, ports=4, layers=2, seed=0)
    c.query(np.ones((2, 4)), 1)
    c.twin_forward(c.twin_params(), np.ones((2, 4)))
    step = optim.Stepper(optim.make_optimizer("adam", 0.1), np.zeros(3))
    assert step.step(np.zeros(3), np.ones(3)).dtype == np.float64
    print(jax.config.jax_enable_x64, "sax" in sys.modules)
    import sax  # sax's klujax backend switches x64 on when imported (upstream, not ours)
    jax.config.update("jax_enable_x64", False)
    from ffzero_photonics.components import models
    from ffzero_photonics.photonic import netlist
    from ffzero_photonics.photonic.mesh_spec import clements
    spec = clements(2)
    p = np.random.default_rng(0).uniform(0, 6, spec.n_params)
    u = netlist.netlist_unitary(spec, p)
    assert np.abs(u.conj().T @ u - np.eye(2)).max() < 1e-10, "netlist not float64"
    assert np.abs(u - compiled.CompiledMesh(spec).unitary(p)).max() < 1e-10
    print(jax.config.jax_enable_x64)
""")


def test_the_package_never_switches_jax_x64_on():
    """Importing the package, querying a chip, its twin, an optimizer step and a float64 netlist evaluation
    leave ``jax_enable_x64`` as the user set it (False)."""
    out = subprocess.run([sys.executable, "-c", _NO_FLAG_SCRIPT], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False", "False"]
