"""Learning curves: recorded in segments of one run, summarized over seeds, drawn."""

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fercore.batches import RandomBatches  # noqa: E402
from fercore.curves import curve_points, curve_summary, fit_with_curve, plot_learning_curves  # noqa: E402
from fercore.recipe import recipe_schedule  # noqa: E402
from fercore.train import Trainer  # noqa: E402


def test_curve_points_end_at_the_schedule():
    points = curve_points(1000, 6)
    assert points[-1] == 1000 and points[0] >= 31 and points == sorted(points) and len(points) == 6
    assert curve_points(1000, 1) == [1000]
    with pytest.raises(ValueError):
        curve_points(10, 0)


def test_fit_with_curve_records_without_changing_the_run():
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()

    def run(points):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        trainer = Trainer(model, lambda m, b: {"loss": torch.nn.functional.cross_entropy(m(b[0]), b[1])},
                          recipe_schedule(60, 0.5, warmup=0.1), device="cpu")
        batches = RandomBatches(x, y, batch_size=8, seed=1)
        if points is None:
            return trainer.fit(batches), None, model
        history, curve = fit_with_curve(trainer, batches, lambda m: {"accuracy": (m(x).argmax(1) == y).float().mean().item()},
                                        points, images_per_step=8)
        return history, curve, model

    plain_history, _, plain = run(None)
    history, curve, model = run([10, 30, 60])
    assert torch.equal(plain.weight, model.weight) and len(history) == len(plain_history) == 60
    assert curve["images"].tolist() == [80, 240, 480] and curve["accuracy"].iloc[-1] > 0.8
    with pytest.raises(ValueError, match="outside"):
        run([61])


def test_summary_and_plot(tmp_path):
    curves = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "seed": [0, 0, 1, 1] * 2,
                           "images": [10, 20] * 4, "test": [0.1, 0.3, 0.2, 0.5, 0.2, 0.4, 0.2, 0.4]})
    summary = curve_summary(curves, by=["model"])
    row = summary.query("model == 'a' and images == 20").iloc[0]
    assert row["mean"] == pytest.approx(0.4) and row["sd"] == pytest.approx(0.1414, abs=1e-4) and row["n"] == 2
    ax = plot_learning_curves(summary, metric="test", references={"HOG + SVM": 0.3}, taken_at=20)
    assert len(ax.lines) == 4 and ax.get_xscale() == "log"
    plt.savefig(tmp_path / "curve.png")
    plt.close("all")


def test_train_feature_net_records_a_curve_of_the_same_run():

    from fercore.curves import LearningCurve, mean_diagonal_of
    from fercore.deep import train_feature_net

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    faces = rng.integers(0, 60, (60, 20, 20)).astype(np.uint8)
    faces[:, 5:15, 5:15] += (80 * labels).astype(np.uint8)[:, None, None]  # a learnable class cue
    net = dict(width=0.125, input_size=18, feature_dim=16, batch_size=12, device="cpu", flip=True)
    schedule = recipe_schedule(40, 0.02, warmup=0.1, shape="cosine")
    curve = LearningCurve([5, 20, 40], mean_diagonal_of({"train": (faces, labels)}, 18, 3))
    model, history = train_feature_net(faces, labels, "softmax", schedule=schedule, curve=curve, seed=1, **net)
    plain, _ = train_feature_net(faces, labels, "softmax", schedule=schedule, seed=1, **net)
    assert curve.frame["step"].tolist() == [5, 20, 40] and curve.frame["images"].tolist() == [60, 240, 480]
    assert len(history) == 40
    for a, b in zip(model.state_dict().values(), plain.state_dict().values()):
        assert torch.equal(a, b)  # recording the curve does not change the run
    assert curve.frame["train"].iloc[-1] > 0.5


class _FixedScores(torch.nn.Module):
    """A stand-in net whose logits are a fixed function of the mean pixel of each crop."""

    def __init__(self, weights):
        super().__init__()
        self.weights = torch.nn.Parameter(torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, x):
        return x.mean(dim=(1, 2, 3))[:, None] * self.weights


def test_average_precision_of_scores_the_net_ranking_like_scikit_learn():
    from sklearn.metrics import label_ranking_average_precision_score

    from fercore.curves import average_precision_of
    from fercore.inputs import center_crops, crop_source

    rng = np.random.default_rng(3)
    faces = rng.integers(0, 256, (40, 20, 20)).astype(np.uint8)
    labels = (rng.random((40, 4)) < 0.4).astype(int)
    labels[labels.sum(1) == 0, 0] = 1
    model = _FixedScores([1.0, -2.0, 0.5, 3.0]).eval()
    ap = average_precision_of({"test": (faces, labels)}, 18, batch_size=16)(model)["test"]
    with torch.no_grad():
        scores = model(center_crops(crop_source(faces, 18), 18)).numpy()
    assert ap == pytest.approx(label_ranking_average_precision_score(labels, scores))


def test_multilabel_run_keeps_a_curve_of_average_precision():
    from fercore.experiments.dlp_dbm import multilabel_run, prior_average_precision
    from fercore.multilabel import make_multilabel

    rng = np.random.default_rng(0)
    labels = (rng.random((60, 3)) < 0.4).astype(int)
    labels[labels.sum(1) == 0, 0] = 1
    faces = rng.integers(0, 60, (60, 20, 20)).astype(np.uint8)
    faces[:, 5:15, 5:15] += (60 * labels[:, :1]).astype(np.uint8)[:, None]
    images, split = {"train": faces[:40], "test": faces[40:]}, {"train": labels[:40], "test": labels[40:]}
    net = dict(width=0.125, input_size=18, feature_dim=16, batch_size=10, device="cpu",
               schedule=recipe_schedule(20, 0.02, shape="cosine"))
    kept = multilabel_run(0, images=images, labels=split, label_vectors=None, objective="soft_ce",
                          classifiers={"mlknn": make_multilabel("mlknn", k=5)}, net=net, curve_points=[5, 20])
    curve = kept.objects["curve"]
    assert curve["step"].tolist() == [5, 20] and (curve["seed"] == 0).all()
    assert curve[["test", "train"]].apply(lambda v: v.between(0, 1)).all().all()
    assert set(kept.objects["features"]) == {"train", "test"}
    prior = prior_average_precision(split["train"], split["test"])
    assert 0 < prior <= 1


def _summary(model, points):
    return [{"model": model, "images": images, "metric": metric, "mean": value, "sd": 0.002, "n": 3}
            for images, test, train in points for metric, value in (("test", test), ("train", train))]


def test_curve_reading_says_flat_and_overfitting():
    from fercore.curves import curve_reading

    summary = pd.DataFrame(_summary("basedcnn", ((100, 0.30, 0.30), (200, 0.45, 0.60), (400, 0.455, 0.80))))
    reading = curve_reading(summary, "basedcnn", chance=1 / 7)
    assert reading["flat"] and reading["overfits"] and reading["learned"] and not reading["at_chance"]
    assert reading["images"] == 400 and reading["since_images"] == 200
    assert reading["gap"] == pytest.approx(0.345) and reading["gain"] == pytest.approx(0.005)
    with pytest.raises(ValueError, match="no test and train curve"):
        curve_reading(summary, "dlp_cnn", chance=1 / 7)


def test_comparison_text_tells_not_yet_learned_from_no_effect():
    from fercore.curves import comparison_text, curve_reading

    flat = ((100, 0.30, 0.30), (200, 0.50, 0.78), (400, 0.502, 0.80))
    rows = _summary("base", flat) + _summary("ours", ((100, 0.30, 0.30), (200, 0.50, 0.78), (400, 0.503, 0.80)))
    rows += _summary("early", ((100, 0.20, 0.20), (200, 0.25, 0.25), (400, 0.30, 0.29)))
    rows += _summary("rising", ((100, 0.30, 0.30), (200, 0.40, 0.50), (400, 0.50, 0.80)))
    summary = pd.DataFrame(rows)
    read = {m: curve_reading(summary, m, chance=1 / 7) for m in ("base", "ours", "early", "rising")}
    names = dict(baseline_name="the baseline", method_name="BT")
    assert "effect is not there" in comparison_text(read["base"], read["ours"], **names)
    assert "Not yet learned" in comparison_text(read["early"], read["ours"], **names)
    still = comparison_text(read["rising"], read["ours"], **names)
    assert still.startswith("**Learned, still rising.**") and "the baseline +10.0" in still
    better = {**read["ours"], "test": 0.60}
    assert comparison_text(read["base"], better, **names).startswith("**Learned.** The baseline")
    near = pd.DataFrame(_summary("near", ((100, 0.14, 0.14), (400, 0.16, 0.19))))
    assert curve_reading(near, "near", chance=1 / 7)["at_chance"]  # fitted noise, not the task
    assert not curve_reading(near, "near", chance=1 / 7)["learned"]


def test_training_probe_is_a_fixed_subset():
    from fercore.curves import training_probe

    probe = training_probe(100, 30)
    assert len(probe) == 30 and len(set(probe)) == 30 and probe.max() < 100
    assert np.array_equal(probe, training_probe(100, 30)) and len(training_probe(10, 30)) == 10


def test_hog_svm_reference_is_hog_features_under_the_given_svm():
    from fercore.classifiers import evaluate_split, make_classifier
    from fercore.curves import hog_svm_reference
    from fercore.features import make_features

    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    faces = rng.integers(0, 60, (40, 20, 20)).astype(np.uint8)
    faces[labels == 1, :, 8:12] += 150  # class 1 has a vertical edge pair
    svm = make_classifier("svm", C_grid=[1.0], gamma_grid=[1.0], cv=1)
    scores = hog_svm_reference(faces[:30], labels[:30], faces[30:], labels[30:], 2, svm)
    hog = make_features("hog")
    by_hand = evaluate_split(svm, hog.fit_transform(faces[:30]), labels[:30], hog.transform(faces[30:]), labels[30:], 2)
    assert scores["accuracy"] == by_hand["accuracy"] > 0.8 and 0 <= scores["mean_diag"] <= 1


def test_retrained_reading_sets_a_smaller_budget_against_the_same_seed():
    from fercore.curves import curve_reading, retrained_reading, retrained_text

    curve = pd.DataFrame([{"model": "base", "seed": seed, "step": step, "images": 10 * step, "test": test, "train": test}
                          for seed, points in ((0, ((50, 0.50), (100, 0.70))), (1, ((50, 0.52), (100, 0.74))))
                          for step, test in points])
    retrained = pd.DataFrame([{"model": "base", "seed": 0, "step": 2, "images": 20, "test": 0.20, "train": 0.2},
                              {"model": "base", "seed": 0, "step": 50, "images": 500, "test": 0.45, "train": 0.5}])
    again = retrained_reading(curve, retrained, "base")
    assert again["images"] == 500 and again["full_images"] == 1000 and again["seeds"] == [0]
    assert again["test"] == pytest.approx(0.45) and again["full_test"] == pytest.approx(0.70)  # seed 0's own end
    assert again["gain"] == pytest.approx(0.25)
    summary = curve_summary(curve, by=["model"])
    text = retrained_text(again, curve_reading(summary, "base", chance=0.1), "the baseline")
    assert text.startswith("Trained again from scratch on 500 images") and "moved it +25.0 points" in text and "says +21.0" in text  # the curve: 0.72 − 0.51
    assert "Most of the curve" not in text and "falls short" not in text  # both say the budget mattered
    nearly = retrained_reading(curve, retrained.assign(test=[0.2, 0.695]), "base")
    assert "(its learning rate decaying), not the larger budget, which moved this net little" in retrained_text(
        nearly, curve_reading(summary, "base", chance=0.1), "the baseline")
    half = retrained_reading(curve, retrained.assign(test=[0.2, 0.62]), "base")  # +8 against the curve's +21
    assert retrained_text(half, curve_reading(summary, "base", chance=0.1), "the baseline").endswith(
        "Most of the curve's rise is the end of the longer run's schedule (its learning rate decaying), not the larger budget.")
    flat_curve = curve_reading(curve_summary(curve.assign(test=curve["test"].where(curve["step"] == 100, 0.715)),
                                             by=["model"]), "base", chance=0.1)
    assert "falls short" in retrained_text(again, flat_curve, "the baseline")
    with pytest.raises(ValueError, match="no retrained run"):
        retrained_reading(curve, retrained, "ours")
    with pytest.raises(ValueError, match="no learning curve"):
        retrained_reading(curve, retrained.assign(seed=5), "base")
    uneven = pd.concat([retrained, retrained.assign(seed=1, images=[20, 400])])
    with pytest.raises(ValueError, match="different budgets"):
        retrained_reading(curve, uneven, "base")
    ax = plot_learning_curves(summary, metric="test", retrained=retrained.tail(1))
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert len(diamonds) == 1 and diamonds[0].get_xdata()[0] == 500 and diamonds[0].get_ydata()[0] == 0.45
    plt.close("all")


def _power_law_summary(a, b, c, images):
    rows = [{"model": "base", "seed": 0, "images": n, "test": a - b * (n / images[-1]) ** -c, "train": 1.0}
            for n in images]
    return curve_summary(pd.DataFrame(rows), by=["model"])


def test_budget_to_flat_recovers_a_power_law_and_counts_doublings_by_hand():
    from fercore.curves import budget_to_flat, budget_to_flat_text, curve_points, flat_figures

    images = [64 * p for p in curve_points(3000, 6)]
    summary = _power_law_summary(0.8, 0.05, 0.5, images)   # each doubling gains 2^-0.5 = 0.707 times the last
    own = budget_to_flat(summary, "base")
    assert own["c"] == pytest.approx(0.5, abs=1e-3) and own["shrink"] == pytest.approx(2 ** -0.5, abs=1e-3)
    assert own["gain"] == pytest.approx(0.05 * (2 ** 0.5 - 1), abs=1e-4)  # 0.0207: test(n) - test(n/2)
    # by hand: 0.0207 × 0.707^k < 0.01 first at k = 3 (0.0207, 0.0146, 0.0104, 0.0073)
    assert own["doublings"] == 3 and own["factor"] == 8 and own["images"] == pytest.approx(8 * images[-1])
    measured = budget_to_flat(summary, "base", gain=0.06)  # a retrained net's larger gain: 0.06 × 0.707^k < 0.01 at k = 6
    assert measured["doublings"] == 6 and measured["factor"] == 64
    text = budget_to_flat_text(measured, "the baseline")
    assert "×0.71 per doubling" in text and "+6.0 points" in text and "after 6 more doublings" in text
    assert "64 times the 192,000 seen here" in text
    assert budget_to_flat(summary, "base", gain=0.005)["doublings"] == 0
    assert flat_figures(measured) == {"shrink": pytest.approx(2 ** -0.5, abs=1e-3), "doublings": 6.0}
    flat = budget_to_flat(summary, "base", gain=0.005)
    assert "has flattened" in budget_to_flat_text(flat, "the baseline")
    assert budget_to_flat_text(flat, "the baseline", reading={"at_chance": True, "flat": False}) == ""  # nothing learned
    rising = {"at_chance": False, "flat": True}   # the curve reads flat within the seed spread
    assert budget_to_flat_text(own, "the baseline", reading=rising) == ""        # it says so itself
    assert "after 6 more doublings" in budget_to_flat_text(measured, "the baseline", reading=rising)  # a retrained net's gain
    assert own["measured"] is False and measured["measured"] is True


def test_budget_to_flat_says_when_the_curve_cannot_tell():
    from fercore.curves import budget_to_flat, budget_to_flat_text, flat_figures

    images = [1000, 2000, 4000, 8000, 16000]
    steady = curve_summary(pd.DataFrame([{"model": "base", "seed": 0, "images": n, "test": 0.3 + 0.05 * np.log2(n / 1000),
                                          "train": 1.0} for n in images]), by=["model"])   # the same gain every doubling
    estimate = budget_to_flat(steady, "base")
    assert np.isnan(estimate["doublings"]) and "does not shrink yet" in budget_to_flat_text(estimate, "the baseline")
    slow = budget_to_flat(_power_law_summary(0.9, 0.2, 0.05, images), "base", gain=0.05)  # shrinks ×0.966 per doubling
    assert flat_figures(estimate) == {"shrink": pytest.approx(estimate["shrink"])} and flat_figures(slow) == {
        "shrink": pytest.approx(2 ** -0.05, abs=0.01)}
    assert slow["doublings"] == np.inf and "more than 1 point per doubling at 1,024 times this budget" in budget_to_flat_text(
        slow, "the baseline")
    assert np.isnan(budget_to_flat(_power_law_summary(0.8, 0.05, 0.5, images[:2]), "base")["doublings"])
    with pytest.raises(ValueError, match="no test curve"):
        budget_to_flat(steady, "ours")
