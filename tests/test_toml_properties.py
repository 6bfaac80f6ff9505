"""Property-based tests of every TOML the project reads: any document is a config or one UserInputError, never a crash."""

from __future__ import annotations

import dataclasses

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.chip_config import ChipConfig
from ffzero_photonics.scale.sweep import TOP_KEYS, load_sweep

SETTINGS = settings(max_examples=int(__import__("os").environ.get("FFZERO_HYPOTHESIS_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_scalar = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), _finite, st.booleans(),
    st.text(max_size=12), st.sampled_from(["clements", "reck", "haar", "physical", "paper", "layout", "grid"]),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=4), st.dictionaries(st.text(max_size=6), _scalar, max_size=3))


def _section_fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []


_TABLES = ChipConfig.tables()
_KNOWN_KEYS = {name: _section_fields(cls) for name, cls in _TABLES.items()}
_NONIDEAL = {name: _section_fields(f.default_factory) for name, f in
             ((f.name, f) for f in dataclasses.fields(_TABLES["nonideal"]))}


@st.composite
def chip_documents(draw):
    """Documents close to real CHIP.tomls: known tables and keys (plus a few unknown ones) with arbitrary values."""
    doc = {}
    for table in draw(st.lists(st.sampled_from(sorted(_TABLES) + ["laser", "bogus"]), max_size=4, unique=True)):
        if table == "nonideal":
            effects = draw(st.lists(st.sampled_from(sorted(_NONIDEAL) + ["nope"]), max_size=2, unique=True))
            doc[table] = {e: {k: draw(_value) for k in draw(st.lists(st.sampled_from(_NONIDEAL.get(e, []) or ["x"]),
                                                                    max_size=3, unique=True))} for e in effects}
            continue
        keys = draw(st.lists(st.sampled_from(_KNOWN_KEYS.get(table, []) + ["unknown_key"]), max_size=4, unique=True))
        doc[table] = {k: draw(_value) for k in keys}
    return doc


def _write(tmp_path, doc) -> str:
    path = tmp_path / "doc.toml"
    path.write_text(tomli_w.dumps(doc))
    return str(path)


@SETTINGS
@given(doc=chip_documents())
def test_any_chip_toml_is_a_config_or_one_user_error(tmp_path, doc):
    try:
        config = ChipConfig.from_toml(_write(tmp_path, doc))
    except UserInputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert ChipConfig.from_dict(config.to_dict()) == config


@SETTINGS
@given(ports=st.integers(2, 40), layers=st.integers(1, 4), mesh=st.sampled_from(["clements", "reck"]),
       preset=st.sampled_from(["paper", "physical"]), laser=st.floats(1e-3, 100.0), bits=st.integers(1, 24))
def test_chip_configs_round_trip_through_toml(tmp_path, ports, layers, mesh, preset, laser, bits):
    config = ChipConfig.preset(preset).with_overrides(ports=ports, layers=layers, mesh=mesh)
    if config.is_physical:
        config = ChipConfig.from_dict({**config.to_dict(), "budget": {"laser_power_mW": laser},
                                       "heaters": {"dac_bits": bits}})
    path = tmp_path / "chip.toml"
    config.to_toml(path)
    assert ChipConfig.from_toml(path) == config


@SETTINGS
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_are_one_user_error(tmp_path, data):
    path = tmp_path / "chip.toml"
    path.write_bytes(data)
    for read in (ChipConfig.from_toml, load_sweep):
        try:
            read(path)
        except UserInputError as exc:
            assert "\n" not in str(exc)


@st.composite
def sweep_documents(draw):
    """Sweep files with the real top-level keys (and a stray one), arbitrary values and grids."""
    doc = {}
    for key in draw(st.lists(st.sampled_from(list(TOP_KEYS) + ["gird"]), max_size=5, unique=True)):
        if key == "grid":
            doc[key] = draw(st.dictionaries(st.sampled_from(["seed", "train.lr", "model_options.hidden", "bogus"]),
                                            st.lists(_scalar, min_size=0, max_size=3), max_size=3))
        elif key in ("train", "model_options"):
            doc[key] = draw(st.dictionaries(st.sampled_from(["epochs", "lr", "eps", "hidden", "typo"]), _value, max_size=3))
        else:
            doc[key] = draw(_value)
    return doc


@SETTINGS
@given(doc=sweep_documents())
def test_any_sweep_toml_is_a_plan_or_one_user_error(tmp_path, doc):
    try:
        base, grid = load_sweep(_write(tmp_path, doc))
    except UserInputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert isinstance(base, dict) and isinstance(grid, dict)
