"""`gaptools reproduce`: the seed paper's experiments as one cached, resumable plan."""

from gaptools.reproduce.experiment import Experiment, run_experiment

__all__ = ["Experiment", "run_experiment"]
