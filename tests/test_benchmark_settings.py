"""The photonic accuracy benchmark's settings: temperatures per platform, and the code each cached run records."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import photonic_accuracy as pa  # noqa: E402


@pytest.mark.parametrize("platform,name", [(None, "chip"), ("examples/chip64.toml", "chip64"), ("my_platform.toml", "chip")])
def test_buildable_chips_take_their_platforms_temperatures(platform, name):
    assert pa.T_PHYSICAL["chip64"] != pa.T_PHYSICAL["chip"]  # the platforms' choices differ, so the lookup is seen
    for ports in (16, 25):
        ce = pa.methods(ports, 2, 300, ((1000, 1),), physical=True, platform=platform)
        assert ce["FFzero, ce, 1000 epochs/layer"]["temperature"] == pa.T_PHYSICAL[name][ports]
        assert ce["FF+AD, ce, calibrated twin"]["temperature"] == pa.T_PHYSICAL[name][ports]
        assert ce["BP+AD, ce, calibrated twin"]["temperature"] == pa.T_PHYSICAL_BP_AD[name][ports]
    note = pa._temperatures(True, platform)
    assert ("not validated" in note) == (platform == "my_platform.toml")


def test_cached_runs_name_the_code_they_ran_on():
    version = pa.code_version()
    assert version and not any(c.isspace() for c in version)  # a commit (possibly -dirty), or 'unknown' 
    rows = {("c", "m"): [{"code": "abc1234"}, {"code": "abc1234"}, {}]}
    assert pa._commits(rows) == "runs per commit: abc1234 2, unrecorded 1"


def test_long_budgets_name_their_directions_per_step():
    assert pa.parse_budgets("1000, 750x16") == ((1000, 1), (750, 16))
    for bad in ("0", "750x0", "x16", "750x", "abc", "750x4x2"):
        with pytest.raises(ValueError):
            pa.parse_budgets(bad)
    ce = pa.methods(25, 2, 300, pa.parse_budgets("3000,750x16"))
    assert "n_dirs" not in ce["FFzero, ce, 3000 epochs/layer"]  # K = 1 runs keep their cache keys
    assert ce["FFzero, ce, 750 epochs/layer, K = 16"] == {**ce["FFzero, ce, 3000 epochs/layer"], "epochs": 750, "n_dirs": 16}
