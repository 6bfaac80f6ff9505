"""``ffzero study robustness`` checks its scheduler before it writes anything, and documents ``local``."""

import pytest

from ffzero_photonics.cli import main
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.studies.robustness import run_robustness


def test_a_bad_scheduler_is_refused_before_plan_json_is_written(tmp_path):
    out = tmp_path / "study"
    with pytest.raises(UserInputError, match="scheduler 'tcp://host:notaport' is not 'local' or an address"):
        run_robustness(out, bounded=True, scheduler="tcp://host:notaport", log=lambda m: None)
    assert not out.exists()


def test_a_bad_scheduler_on_the_command_line_is_exit_2_and_leaves_no_directory(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", "robustness", "--out", str(out), "--bounded", "--scheduler", "tcp://"]) == 2
    assert "scheduler 'tcp://'" in capsys.readouterr().err
    assert not out.exists()


def test_scheduler_help_mentions_local(capsys):
    assert main(["study", "robustness", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "tcp://HOST:8786, or local to start one on this machine" in help_text
