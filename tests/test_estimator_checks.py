"""Every estimator over (X, y) feature arrays against scikit-learn's estimator contract.

Exempt by design, not checked here: estimators whose input is not a feature matrix —
``features.LBPFeatures``/``HOGFeatures``/``GaborFeatures`` and ``semantic.SemanticAutoencoder``
(uint8 face images of one size), ``semantic.NeighbourhoodAwareClassifier`` (face images),
``multitask.MultiTaskNet`` (:class:`~fercore.datasets.FaceSet` tasks, several label spaces) and
the crowd aggregators of ``fercore.crowd`` (vote tables, crowd-kit's interface).
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from fercore.classifiers import LDANearestNeighbor, SVMClassifier, UniformRandomClassifier
from fercore.multilabel import LIFT, ML2, MLLOC, CalibratedLabelRanking, MLkNN, RAkEL

LABEL_MATRIX = "Y is a (samples, labels) 0/1 matrix; the check fits one column of class labels other than 0/1"
MULTILABEL = {
    "check_classifier_data_not_an_array": LABEL_MATRIX,
    "check_classifiers_classes": LABEL_MATRIX,
    "check_classifiers_one_label": LABEL_MATRIX,
    "check_classifiers_regression_target": LABEL_MATRIX,
    "check_classifiers_train": "multi-label only: predictions are (samples, labels), the check wants one label per sample",
    "check_estimators_dtypes": LABEL_MATRIX,
    "check_fit2d_1feature": LABEL_MATRIX,
    "check_n_features_in_after_fitting": LABEL_MATRIX,
    "check_classifier_not_supporting_multiclass": "multi-label only: a multi-class y is rejected as not a 0/1 matrix",
}
"""Checks of scikit-learn's suite written for single-output classifiers, with the reason each
does not apply to the multi-label classifiers (which take Y, a label-indicator matrix)."""

EXPECTED_FAILURES = {
    UniformRandomClassifier: {
        "check_methods_sample_order_invariance": "the naive detector draws one random class per row in order",
        "check_methods_subset_invariance": "the naive detector draws one random class per row in order",
    },
    CalibratedLabelRanking: MULTILABEL,
    MLkNN: {**MULTILABEL, "check_classifier_multioutput":
            "decision_function is the posterior P(label | neighbours), thresholded at 0.5, not at 0"},
    MLLOC: MULTILABEL,
    LIFT: MULTILABEL,
    ML2: MULTILABEL,
    RAkEL: {**MULTILABEL,
            **{check: "RAkEL's scores are vote shares thresholded at 0.5; the check assumes a threshold of 0"
               for check in ("check_classifier_multioutput", "check_classifiers_multilabel_output_format_predict",
                             "check_classifiers_multilabel_output_format_predict_proba",
                             "check_classifiers_multilabel_output_format_decision_function",
                             "check_classifiers_multilabel_representation_invariance")}},
}


pytestmark = pytest.mark.slow  # about 500 checks, a minute or two on two cores


def expected_failures(estimator):
    return EXPECTED_FAILURES.get(type(estimator), {})


@parametrize_with_checks(
    [SVMClassifier(C_grid=(1.0, 10.0), gamma_grid=(1.0,), cv=2), LDANearestNeighbor(pca_components=3),
     UniformRandomClassifier(), CalibratedLabelRanking(), RAkEL(labelset_size=1, n_models=1), MLkNN(k=3),
     MLLOC(n_codes=3), LIFT(), ML2(k=3)],
    expected_failed_checks=expected_failures,
)
def test_scikit_learn_contract(estimator, check):
    check(estimator)
