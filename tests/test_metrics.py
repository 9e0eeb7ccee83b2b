"""Metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon

from mnpad.metrics import aucpr, aucpr_trapz, aucroc, evaluate, mean_std, wilcoxon_pvalue

# Example A, ranked by score: 0.9 (anomaly), 0.8 (normal), 0.7 (anomaly), 0.2, 0.1 (normal).
YA = [1, 0, 1, 0, 0]
SA = [0.9, 0.8, 0.7, 0.2, 0.1]
# ROC: anomaly 0.9 beats 3 normals, 0.7 beats 2 of 3 -> 5 / 6.
# AP: recall steps 0.5 at precision 1 (rank 1) and 0.5 at precision 2/3 (rank 3) -> 5 / 6.
# Trapezoid over PR points (R, P) = (0, 1), (0.5, 1), (0.5, 0.5), (1, 2/3):
#   0.5 * 1 + 0 + 0.5 * (0.5 + 2/3) / 2 = 1/2 + 7/24 = 19 / 24.

# Example B, with a tie: 0.8 (anomaly), 0.5 (anomaly) tied with 0.5 (normal), 0.1 (normal).
YB = [1, 1, 0, 0]
SB = [0.8, 0.5, 0.5, 0.1]
# ROC: 0.8 beats both normals (2), 0.5 ties one (0.5) and beats one (1) -> 3.5 / 4 = 0.875.
# AP: thresholds 0.8 -> (R 0.5, P 1), 0.5 -> (R 1, P 2/3): 0.5 + 0.5 * 2/3 = 5 / 6.
# Trapezoid over (0, 1), (0.5, 1), (1, 2/3): 0.5 + 0.5 * (1 + 2/3) / 2 = 11 / 12.


def test_example_a_by_hand():
    assert aucroc(YA, SA) == pytest.approx(5 / 6)
    assert aucpr(YA, SA) == pytest.approx(5 / 6)
    assert aucpr_trapz(YA, SA) == pytest.approx(19 / 24)
    assert evaluate(YA, SA) == pytest.approx(
        {"aucroc": 5 / 6, "aucpr": 5 / 6, "aucpr_trapz": 19 / 24})


def test_example_b_with_ties_by_hand():
    assert aucroc(YB, SB) == pytest.approx(0.875)
    assert aucpr(YB, SB) == pytest.approx(5 / 6)
    assert aucpr_trapz(YB, SB) == pytest.approx(11 / 12)


def test_direction_higher_score_is_more_anomalous():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert aucroc(y, s) == 1.0 and aucpr(y, s) == 1.0 and aucpr_trapz(y, s) == 1.0
    assert aucroc(y, -s) == 0.0
    assert aucroc(YA, -np.array(SA)) == pytest.approx(1 - 5 / 6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="single class"):
        aucroc([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="differ in length"):
        aucpr([0, 1], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        aucpr_trapz([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="0 \\(normal\\) / 1"):
        aucroc([0, 2], [0.1, 0.2])


def test_wilcoxon_by_hand_and_against_scipy():
    b = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    d = np.array([2.0, 4.0, -1.0, 3.0, 6.0, 5.0])  # |d| ranks 2, 4, 1, 3, 6, 5
    a = b + d
    # W+ = 21 - 1 = 20; under H0 each of the 2^6 sign patterns is equally likely and only
    # {all positive} (21) and {all but rank 1} (20) reach 20: p = 2 / 64.
    assert wilcoxon_pvalue(a, b) == pytest.approx(2 / 64)
    assert wilcoxon_pvalue(a, b, alternative="less") == pytest.approx(63 / 64)
    assert wilcoxon_pvalue(a, b, alternative="two-sided") == pytest.approx(4 / 64)
    assert wilcoxon_pvalue(b, a) == pytest.approx(63 / 64)  # argument order matters
    assert wilcoxon_pvalue(a, b) == pytest.approx(wilcoxon(a, b, alternative="greater").pvalue)


def test_wilcoxon_edge_cases():
    x = np.array([0.5, 0.6, 0.7])
    assert wilcoxon_pvalue(x, x) == 1.0
    with pytest.raises(ValueError, match="paired"):
        wilcoxon_pvalue([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="alternative"):
        wilcoxon_pvalue(x, x + 1, alternative="bigger")


def test_mean_std_uses_population_std():
    assert mean_std([1.0, 3.0]) == (2.0, 1.0)
    with pytest.raises(ValueError):
        mean_std([])
