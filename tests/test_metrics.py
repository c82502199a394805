import numpy as np
import pytest
from sklearn import metrics as skm

from fercore import metrics

# ------------------------------------------------------------------ single-label


def test_mean_diagonal_hand_case():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 0, 2]
    # row-normalized diagonal: 2/3, 1/2, 1
    assert metrics.mean_diagonal(y_true, y_pred, 3) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_confusion_matrix_percent_rows_and_absent_class():
    cm = metrics.confusion_matrix_percent([0, 0, 1, 1], [0, 1, 1, 1], 3)
    np.testing.assert_allclose(cm[:2], [[50, 50, 0], [0, 100, 0]])
    assert np.isnan(cm[2]).all()
    # the absent class is left out of the mean diagonal
    assert metrics.mean_diagonal([0, 0, 1, 1], [0, 1, 1, 1], 3) == pytest.approx(0.75)


def test_mean_diagonal_equals_balanced_accuracy():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 7, 500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, 7, 500))
    assert metrics.mean_diagonal(y_true, y_pred, 7) == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(metrics.confusion_counts(y_true, y_pred, 7),
                                  skm.confusion_matrix(y_true, y_pred, labels=range(7)))


def test_single_label_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.mean_diagonal([0, 1], [0], 2)
    with pytest.raises(ValueError, match="outside"):
        metrics.mean_diagonal([0, 5], [0, 1], 3)
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy([], [])


# ------------------------------------------------------------------ multi-label

Y = np.array([[1, 0, 1], [0, 1, 0]])
S = np.array([[0.9, 0.5, 0.1], [0.3, 0.2, 0.1]])
Y_HAT = np.array([[1, 1, 0], [0, 1, 0]])


def test_multilabel_hand_case():
    # sample 1: relevant labels ranked 1 and 3; sample 2: relevant label ranked 2
    assert metrics.coverage(Y, S, from_one=True) == pytest.approx((3 + 2) / 2)
    assert metrics.coverage(Y, S) == pytest.approx((2 + 1) / 2)
    assert metrics.one_error(Y, S) == pytest.approx(0.5)
    # pairs: sample 1 (0>1 ok, 2<1 wrong) → 1/2; sample 2 (1<0 wrong, 1>2 ok) → 1/2
    assert metrics.ranking_loss(Y, S) == pytest.approx(0.5)
    # sample 1: (1/1 + 2/3)/2; sample 2: 1/2
    assert metrics.average_precision(Y, S) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert metrics.hamming_loss(Y, Y_HAT) == pytest.approx(2 / 6)
    # TP=2, FP=1, FN=1 → micro F1 = 4/6; per label F1: 1, 2/3, 0
    assert metrics.micro_f1(Y, Y_HAT) == pytest.approx(4 / 6)
    assert metrics.macro_f1(Y, Y_HAT) == pytest.approx((1 + 2 / 3 + 0) / 3)


def _random_multilabel(seed, n=300, n_labels=6, ties=True):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < 0.35).astype(int)
    y[np.arange(n), rng.integers(0, n_labels, n)] = 1
    scores = y * 0.3 + rng.random((n, n_labels))
    if ties:
        scores = np.round(scores, 1)
    y_hat = (scores > 0.6).astype(int)
    return y, y_hat, scores


@pytest.mark.parametrize("seed", [0, 1])
def test_multilabel_against_scikit_learn(seed):
    y, y_hat, s = _random_multilabel(seed)
    assert metrics.hamming_loss(y, y_hat) == pytest.approx(skm.hamming_loss(y, y_hat))
    assert metrics.coverage(y, s, from_one=True) == pytest.approx(skm.coverage_error(y, s))
    assert metrics.coverage(y, s) == pytest.approx(skm.coverage_error(y, s) - 1)
    assert metrics.ranking_loss(y, s) == pytest.approx(skm.label_ranking_loss(y, s))
    assert metrics.average_precision(y, s) == pytest.approx(skm.label_ranking_average_precision_score(y, s))
    assert metrics.micro_f1(y, y_hat) == pytest.approx(skm.f1_score(y, y_hat, average="micro"))
    assert metrics.macro_f1(y, y_hat) == pytest.approx(skm.f1_score(y, y_hat, average="macro", zero_division=0))
    assert metrics.micro_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s, average="micro"))
    assert metrics.macro_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s, average="macro"))


def test_ranking_loss_ties():
    y = np.array([[1, 0, 0]])
    s = np.array([[0.5, 0.5, 0.1]])
    assert metrics.ranking_loss(y, s) == pytest.approx(0.5)  # the tie counts (standard)
    assert metrics.ranking_loss(y, s, ties_are_errors=False) == 0.0  # the paper's printed "<"


def test_one_error_matches_definition():
    y, _, s = _random_multilabel(2, ties=False)
    top = s.argmax(axis=1)
    assert metrics.one_error(y, s) == pytest.approx(np.mean(y[np.arange(len(y)), top] == 0))


def test_perfect_ranking():
    y = np.array([[1, 1, 0, 0], [0, 1, 0, 1]])
    s = y + 0.1 * np.arange(4)
    assert metrics.ranking_loss(y, s) == 0
    assert metrics.one_error(y, s) == 0
    assert metrics.average_precision(y, s) == 1
    assert metrics.coverage(y, s) == pytest.approx(1.0)  # two labels: depth 2 counted from 1, minus 1
    assert metrics.micro_auc(y, s) == 1 and metrics.macro_auc(y, s) == 1


def test_macro_auc_skips_constant_labels():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    s = np.array([[0.9, 0.2, 0.5], [0.1, 0.3, 0.5], [0.8, 0.1, 0.5], [0.3, 0.2, 0.5]])
    assert metrics.macro_auc(y, s) == pytest.approx(1.0)


def test_multilabel_report_keys_and_bad_input():
    y, y_hat, s = _random_multilabel(3)
    report = metrics.multilabel_report(y, y_hat, s)
    assert tuple(report) == metrics.MULTILABEL_METRICS
    with pytest.raises(ValueError, match="only 0 and 1"):
        metrics.hamming_loss(y * 2, y_hat)
    with pytest.raises(ValueError, match="shape"):
        metrics.coverage(y, s[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        metrics.ranking_loss(y, np.full(y.shape, np.nan))


# ------------------------------------------------------------------ label statistics


def test_label_cardinality_and_cooccurrence():
    y = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(metrics.label_cardinality_counts(y), [1, 0, 2, 1])
    np.testing.assert_array_equal(metrics.label_cooccurrence(y), [[3, 2, 2], [2, 2, 1], [2, 1, 2]])


def test_occurrence_rates_by_group():
    presence = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    rates = metrics.occurrence_rates(presence, [0, 0, 1, 1], 3)
    np.testing.assert_allclose(rates[:2], [[1.0, 0.5], [0.0, 0.5]])
    assert np.isnan(rates[2]).all()
    with pytest.raises(ValueError, match="entries"):
        metrics.occurrence_rates(presence, [0, 1], 2)
