"""Learning curves: a net's accuracy against the training images it has seen, recorded while it
trains, summarized over seeds and drawn with the reference lines a chapter compares against.

:func:`fit_with_curve` runs a :class:`fercore.train.Trainer` in segments and calls
``evaluate(model)`` at each point; the rows (``images``, ``step``, one column per returned
metric) are tidy, so seeds and arms concatenate and :func:`curve_summary` gives mean ± sd.
"""

import numpy as np
import pandas as pd
import torch


def curve_points(iterations, n_points=6):
    """``n_points`` optimizer steps, about evenly spaced on a log scale from ~1/32 of
    ``iterations`` up to ``iterations`` (always included)."""
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}")
    points = np.geomspace(max(1, iterations / 32), iterations, n_points)
    return sorted({int(round(p)) for p in points} | {int(iterations)})


def fit_with_curve(trainer, batches, evaluate, points, images_per_step):
    """Train ``trainer`` over ``batches`` to the end of its schedule, calling ``evaluate(model)``
    (→ dict of metrics) after each step count in ``points``. Returns ``(history, curve)``,
    ``curve`` one row per point: ``step``, ``images`` (= step × ``images_per_step``) and the
    metrics. The model is evaluated in eval mode and put back to training."""
    rows = []
    for point in sorted(set(points)):
        if not 0 < point <= trainer.schedule.iterations:
            raise ValueError(f"curve point {point} is outside the schedule's "
                             f"{trainer.schedule.iterations} iterations")
        trainer.fit(batches, until=point)
        if trainer.step != point:
            raise ValueError(f"the trainer is at step {trainer.step}, past the curve point {point} "
                             "(resumed from a checkpoint?)")
        trainer.model.eval()
        with torch.no_grad():
            metrics = evaluate(trainer.model)
        rows.append({"step": point, "images": point * images_per_step, **metrics})
    history = trainer.fit(batches)
    return history, pd.DataFrame(rows)


class LearningCurve:
    """A learning curve to record during one training run: ``evaluate(model)`` (→ dict of
    metrics) after each step count in ``points``. A training function that accepts one calls
    :meth:`fit` instead of ``trainer.fit``; :attr:`frame` then holds the rows (empty before)."""

    def __init__(self, points, evaluate):
        self.points = sorted(set(int(p) for p in points))
        self.evaluate = evaluate
        self.frame = pd.DataFrame()

    def fit(self, trainer, batches, images_per_step):
        """:func:`fit_with_curve` over this curve's points (those within the schedule); returns
        the trainer's history."""
        points = [p for p in self.points if p <= trainer.schedule.iterations]
        history, self.frame = fit_with_curve(trainer, batches, self.evaluate, points, images_per_step)
        return history


def mean_diagonal_of(sets, input_size, n_classes, batch_size=512):
    """An ``evaluate`` for :class:`LearningCurve`: the softmax mean diagonal of a classifier
    net (``model(x)`` → logits) on each named set ``{name: (uint8 faces (n, H, W), labels)}``,
    centre-cropped as at test time."""
    from fercore.inputs import center_crops, crop_source
    from fercore.metrics import mean_diagonal

    prepared = {name: (crop_source(images, input_size), np.asarray(labels))
                for name, (images, labels) in sets.items()}

    def evaluate(model):
        device = next(model.parameters()).device
        out = {}
        for name, (x, y) in prepared.items():
            predictions = [model(center_crops(x[i:i + batch_size].to(device), input_size)).argmax(1).cpu()
                           for i in range(0, len(x), batch_size)]
            out[name] = mean_diagonal(y, torch.cat(predictions).numpy(), n_classes)
        return out

    return evaluate


def curve_summary(curves, by=(), metrics=None):
    """Mean, sd and n over seeds of learning-curve rows (``curves`` has ``seed``, ``images`` and
    metric columns, plus any grouping columns ``by``): long table (by…, images, metric, mean, sd, n)."""
    keys = [*by, "images"]
    metrics = metrics or [c for c in curves.columns if c not in (*keys, "seed", "step")]
    long = curves.melt(id_vars=keys, value_vars=metrics, var_name="metric")
    out = long.groupby([*keys, "metric"], sort=False)["value"].agg(["mean", "std", "count"])
    return out.rename(columns={"std": "sd", "count": "n"}).reset_index()


def plot_learning_curves(summary, *, metric, by="model", references=None, taken_at=None,
                         ax=None, ylabel=None):
    """One line per value of ``by`` (mean ± sd band over seeds) of ``metric`` against training
    images seen (log scale); ``references`` (label → value) as horizontal dashed lines (e.g.
    HOG + SVM); ``taken_at`` (images) marks where the chapter's tables are taken."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax = ax or plt.gca()
    part = summary[summary["metric"] == metric]
    for name, group in part.groupby(by, sort=False):
        group = group.sort_values("images")
        sd = group["sd"].fillna(0)
        line, = ax.plot(group["images"], group["mean"], marker="o", label=str(name))
        ax.fill_between(group["images"], group["mean"] - sd, group["mean"] + sd,
                        color=line.get_color(), alpha=0.2)
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{7 + i}", linestyle="--", label=label)
    if taken_at is not None:
        ax.axvline(taken_at, color="0.3", linestyle=":", label="tables taken here")
    ax.set(xscale="log", xlabel="training images seen", ylabel=ylabel or metric)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize="small")
    return ax
