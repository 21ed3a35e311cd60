"""benchmarks/curve_lrs.py's held-out rate choice: the grid grows past an edge while the edge
scores best, and a rate is chosen only once every factor it needs has both seeds."""
import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "curve_lrs.py"
spec = importlib.util.spec_from_file_location("curve_lrs", SCRIPT)
curve_lrs = sys.modules["curve_lrs"] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
spec.loader.exec_module(curve_lrs)
BASE = (0.3, 1, 3, 10)


def test_a_best_rate_inside_the_grid_is_chosen_as_it_is():
    scores = {0.3: [50, 52], 1: [60, 62], 3: [55, 57], 10: [40, 40]}
    assert curve_lrs.factors_needed(scores, BASE) == ([0.3, 1, 3, 10], 1)


def test_nothing_is_chosen_until_every_factor_has_both_seeds():
    assert curve_lrs.factors_needed({0.3: [50, 52], 1: [60], 3: [55, 57], 10: [40, 40]}, BASE) == (list(BASE), None)


def test_the_grid_grows_past_the_top_edge_while_the_edge_scores_best():
    scores = {0.3: [10, 10], 1: [20, 20], 3: [30, 30], 10: [40, 40]}
    assert curve_lrs.factors_needed(scores, BASE) == ([0.3, 1, 3, 10, 30], None)
    assert curve_lrs.factors_needed({**scores, 30: [35, 35]}, BASE) == ([0.3, 1, 3, 10, 30], 10)
    grown = {**scores, 30: [45, 45]}
    assert curve_lrs.factors_needed(grown, BASE) == ([0.3, 1, 3, 10, 30, 100], None)
    assert curve_lrs.factors_needed({**grown, 100: [50, 50]}, BASE) == ([0.3, 1, 3, 10, 30, 100], 100)  # no further


def test_the_grid_grows_past_the_bottom_edge_too():
    scores = {0.3: [75.3, 75.3], 1: [75.2, 75.2], 3: [74.5, 74.5], 10: [73.7, 73.7]}
    assert curve_lrs.factors_needed(scores, BASE) == ([0.1, 0.3, 1, 3, 10], None)
    assert curve_lrs.factors_needed({**scores, 0.1: [74.0, 74.0]}, BASE) == ([0.1, 0.3, 1, 3, 10], 0.3)
