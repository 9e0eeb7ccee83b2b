"""scikit-learn's estimator checks over every registered detector.

``parametrize_with_checks`` runs scikit-learn's API checks with the contract suite's fast
parameters. Each check a detector is expected to fail is listed below with its reason; the
checks run in strict mode (where scikit-learn supports it), so an expected failure that starts
passing fails the suite until it is removed from the list.
"""

from __future__ import annotations

import inspect

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    parametrize_with_checks,
)
from test_contract import NAMES, make

# --- reasons ------------------------------------------------------------------------------
Y_012 = ("the check passes y with classes 0/1/2 (or no 1): a weakly supervised detector needs "
         "y of 0 (unlabeled) and 1 (labeled anomaly) with at least one 1")
PYOD = ("PyOD convention: predict gives 1 for anomalies and 0 otherwise, and a higher "
        "decision_function means more anomalous (scikit-learn's outlier checks want -1/+1, "
        "negative = outlier, and offset_)")
PYOD_WEAK = PYOD + "; also fits without y, which a weakly supervised detector refuses"
MNP_ROWS = ("the check fits on 10-20 rows: MNP needs at least min_unlabeled=16 unlabeled rows "
            "for its prototypes")

#: checks whose y has classes 0/1/2 (or no anomaly), failing for every weakly supervised detector
_Y_CHECKS = [
    "check_classifier_data_not_an_array", "check_dict_unchanged",
    "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
    "check_estimators_fit_returns_self", "check_estimators_overwrite_params",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_predict1d",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
]

EXPECTED_FAILED = {name: {} for name in NAMES}
for _name in ("mnp", "rosas", "prenet", "devnet", "deepsad", "feawad", "gbdt", "auto"):
    EXPECTED_FAILED[_name].update({c: Y_012 for c in _Y_CHECKS})
    EXPECTED_FAILED[_name].update({"check_outliers_train": PYOD_WEAK,
                                   "check_outliers_fit_predict": PYOD_WEAK})
for _name in ("dif", "deepsvdd", "iforest"):
    EXPECTED_FAILED[_name].update({"check_outliers_train": PYOD, "check_outliers_fit_predict": PYOD})
EXPECTED_FAILED["mnp"].update({
    c: MNP_ROWS for c in ("check_pipeline_consistency", "check_estimators_nan_inf",
                          "check_estimators_pickle", "check_transformer_data_not_an_array",
                          "check_transformer_general", "check_transformer_preserve_dtypes")})
EXPECTED_FAILED["gbdt"]["check_non_transformer_estimators_n_iter"] = Y_012  # has max_iter

_BY_CLASS = {type(make(n)).__name__: n for n in NAMES}


def _expected(est):
    return EXPECTED_FAILED[_BY_CLASS[type(est).__name__]]


_strict = ({"xfail_strict": True}
           if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks([make(n) for n in NAMES], expected_failed_checks=_expected, **_strict)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", NAMES)
def test_sklearn_dataframe_column_names_consistency(name):
    """Not among parametrize_with_checks' checks: reordered, renamed and missing columns raise
    scikit-learn's messages from every method that takes X."""
    check_dataframe_column_names_consistency(type(make(name)).__name__, make(name))
