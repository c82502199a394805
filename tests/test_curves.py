"""Learning curves: recorded in segments of one run, summarized over seeds, drawn."""

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
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
