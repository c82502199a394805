import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from fercore.labels import BASIC7
from fercore.synth.crowd import (
    CONFUSION,
    simulate_annotators,
    simulate_perceived,
    simulate_votes,
    vote_distribution,
)

FEAR, SURPRISE = BASIC7.index("fear"), BASIC7.index("surprise")


@pytest.fixture(scope="module")
def world():
    perceived = simulate_perceived(3000, rng=1)
    annotators = simulate_annotators(315, 0.1, rng=2)
    votes = simulate_votes(perceived.distribution, annotators, 40, perceived.difficulty, rng=3)
    return perceived, annotators, votes


def test_confusion_is_row_stochastic_with_the_classic_mixups():
    assert CONFUSION.shape == (7, 7)
    np.testing.assert_allclose(CONFUSION.sum(axis=1), 1.0)
    off = CONFUSION - np.diag(np.diag(CONFUSION))
    assert off[FEAR].argmax() == SURPRISE
    assert off[BASIC7.index("disgust")].argmax() == BASIC7.index("anger")
    assert off[BASIC7.index("neutral")].argmax() == BASIC7.index("sadness")


def test_annotators_columns_spammers_and_determinism():
    a = simulate_annotators(315, 0.1, rng=5)
    assert list(a.columns[:3]) == ["worker", "reliability", "is_spammer"]
    assert len(a) == 315 and a["worker"].is_unique
    assert a["is_spammer"].sum() == round(0.1 * 315)
    assert (a.loc[a.is_spammer, "reliability"] == 0).all()
    good = a.loc[~a.is_spammer, "reliability"]
    assert good.between(0.2, 1.0).all() and good.std() > 0.05
    assert set(a.loc[a.is_spammer, "spammer_kind"]) == {"uniform", "biased"}
    pd.testing.assert_frame_equal(a, simulate_annotators(315, 0.1, rng=5))


def test_perceived_rows_are_distributions(world):
    perceived = world[0]
    np.testing.assert_allclose(perceived.distribution.sum(axis=1), 1.0)
    assert (perceived.difficulty >= 0).all()
    assert set(perceived.kind) == {"single", "compound", "neutral_blend", "triple", "diffuse"}
    np.testing.assert_array_equal(perceived.label, perceived.distribution.argmax(axis=1))


def test_votes_table_shape_no_double_votes_balanced_loads(world):
    _, annotators, votes = world
    assert list(votes.columns) == ["task", "worker", "label"]
    assert len(votes) == 3000 * 40
    assert not votes.duplicated(["task", "worker"]).any()
    assert (votes.groupby("task").size() == 40).all()
    assert votes["label"].between(0, 6).all()
    load = votes.groupby("worker").size()
    assert len(load) == 315 and load.max() / load.min() < 1.3


def test_votes_are_deterministic(world):
    perceived, annotators, votes = world
    again = simulate_votes(perceived.distribution, annotators, 40, perceived.difficulty, rng=3)
    pd.testing.assert_frame_equal(votes, again)


def test_accuracy_follows_reliability_and_spammers_behave(world):
    perceived, annotators, votes = world
    correct = votes["label"].to_numpy() == perceived.label[votes["task"].to_numpy()]
    accuracy = pd.Series(correct).groupby(votes["worker"].to_numpy()).mean()
    good = ~annotators["is_spammer"].to_numpy()
    assert spearmanr(annotators["reliability"][good], accuracy[good]).statistic > 0.8
    uniform = annotators.loc[annotators.spammer_kind == "uniform", "worker"]
    share = votes[votes.worker.isin(uniform)]["label"].value_counts(normalize=True)
    np.testing.assert_allclose(share.sort_index(), 1 / 7, atol=0.02)
    biased = annotators[annotators.spammer_kind == "biased"].iloc[0]
    mine = votes[votes.worker == biased.worker]["label"]
    assert abs((mine == biased.bias_label).mean() - (0.6 + 0.4 / 7)) < 0.05


def test_difficulty_flattens_and_reliability_sharpens():
    fear = np.zeros((1, 7))
    fear[0, FEAR] = 1.0
    sharp = vote_distribution(fear, np.zeros(1), np.ones(1))
    flat = vote_distribution(fear, np.full(1, 3.0), np.ones(1))
    weak = vote_distribution(fear, np.zeros(1), np.full(1, 0.3))
    np.testing.assert_allclose([sharp.sum(), flat.sum(), weak.sum()], 1.0)
    assert sharp[0, FEAR] > 0.95
    assert flat[0, FEAR] < sharp[0, FEAR] and weak[0, FEAR] < sharp[0, FEAR]
    # the first mistake of a hesitant annotator on a fearful face is "surprise"
    wrong = np.delete(np.arange(7), FEAR)
    assert wrong[flat[0, wrong].argmax()] == SURPRISE


def test_variable_votes_per_task():
    perceived = simulate_perceived(50, rng=0)
    annotators = simulate_annotators(60, 0.0, rng=0)
    counts = np.arange(50) % 5 + 36
    votes = simulate_votes(perceived.distribution, annotators, counts, rng=0)
    np.testing.assert_array_equal(votes.groupby("task").size().to_numpy(), counts)
    assert not votes.duplicated(["task", "worker"]).any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(perceived=np.ones((3, 6))), "shape"),
        (dict(perceived=-np.ones((3, 7))), "non-negative"),
        (dict(difficulty=-np.ones(3)), "difficulty"),
        (dict(votes_per_task=400), "votes_per_task"),
        (dict(rng=None), "seed"),
    ],
)
def test_bad_input(kwargs, message):
    args = dict(perceived=np.ones((3, 7)), annotators=simulate_annotators(10, 0.0, rng=0), votes_per_task=5, rng=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        simulate_votes(**args)
    with pytest.raises(ValueError, match="spammer_fraction"):
        simulate_annotators(10, 1.5, rng=0)
