"""Robustness of offline vs in-situ (FFzero) training on non-ideal photonic chips: ``run_robustness(out, ...)``.

plan.py sizes the study, tasks.py holds the trainings, report.py and figures.py write
the tables and plots, run.py runs it all on the scale executor.
"""

from .plan import StudyPlan
from .run import run_robustness

__all__ = ["StudyPlan", "run_robustness"]
