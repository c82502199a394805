"""Learning curves: a net's accuracy against the training images it has seen, recorded while it
trains, summarized over seeds and drawn with the reference lines a chapter compares against.

:func:`fit_with_curve` runs a :class:`fercore.train.Trainer` in segments and calls
``evaluate(model)`` at each point; the rows (``images``, ``step``, one column per returned
metric) are tidy, so seeds and arms concatenate and :func:`curve_summary` gives mean ± sd.
:func:`curve_reading` says what a curve shows at its end (learned or not, still rising or flat),
:func:`curve_text` and :func:`comparison_text` put it in words; :func:`retrained_reading` and
:func:`retrained_text` check the curve's last stretch against the same net trained from scratch on
a smaller budget, with its whole schedule; :func:`budget_to_flat` and :func:`budget_to_flat_text`
extrapolate a still-rising curve to the budget that would flatten it; :func:`hog_svm_reference` is the
handcrafted line the deep chapters draw beside their curves.
"""

import numpy as np
import pandas as pd
import torch


def curve_points(iterations, n_points=6):
    """``n_points`` optimizer steps, about evenly spaced on a log scale from ~1/32 of
    ``iterations`` up to ``iterations`` (always included; the only one when ``n_points`` is 1)."""
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}")
    if n_points == 1:
        return [int(iterations)]
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


def training_probe(n_train, size=1500, seed=0):
    """Indices of a fixed random subset of ``size`` of the ``n_train`` training faces (all of them
    when fewer), on which a learning curve reads training accuracy."""
    return np.sort(np.random.default_rng(seed).permutation(n_train)[:size])


def scores_of(score, sets):
    """An ``evaluate`` for :class:`LearningCurve` when the net trains inside an estimator whose
    scoring works during its fit (``MultiTaskNet``, ``NeighbourhoodAwareClassifier``):
    ``score(*sets[name])`` for each named set."""
    return lambda model: {name: score(*args) for name, args in sets.items()}


@torch.no_grad()
def _net_outputs(model, x, input_size, batch_size):
    """The logits of ``model`` on prepared faces ``x`` (:func:`fercore.inputs.crop_source`) at the
    centre crop, in batches, on the model's device; returned on the CPU."""
    from fercore.inputs import center_crops

    device = next(model.parameters()).device
    return torch.cat([model(center_crops(x[i:i + batch_size].to(device), input_size)).float().cpu()
                      for i in range(0, len(x), batch_size)])


def _net_score_of(sets, input_size, batch_size, score):
    """An ``evaluate`` for :class:`LearningCurve`: ``score(labels, logits)`` of a net on each named
    set ``{name: (uint8 faces (n, H, W), labels)}``, centre-cropped as at test time."""
    from fercore.inputs import crop_source

    prepared = {name: (crop_source(images, input_size), np.asarray(labels))
                for name, (images, labels) in sets.items()}
    return lambda model: {name: score(y, _net_outputs(model, x, input_size, batch_size))
                          for name, (x, y) in prepared.items()}


def mean_diagonal_of(sets, input_size, n_classes, batch_size=512):
    """An ``evaluate`` for :class:`LearningCurve`: the softmax mean diagonal of a classifier
    net (``model(x)`` → logits) on each named set ``{name: (uint8 faces (n, H, W), labels)}``,
    centre-cropped as at test time."""
    from fercore.metrics import mean_diagonal

    return _net_score_of(sets, input_size, batch_size,
                         lambda y, logits: mean_diagonal(y, logits.argmax(1).numpy(), n_classes))


def average_precision_of(sets, input_size, batch_size=512):
    """An ``evaluate`` for :class:`LearningCurve` of a multi-label net: the average precision
    (RAF-ML §6.3.3, :func:`fercore.metrics.average_precision`) of its own label ranking, its
    logits, against the 0/1 label matrices of each named set ``{name: (uint8 faces, labels (n, C))}``,
    centre-cropped as at test time."""
    from fercore.metrics import average_precision

    return _net_score_of(sets, input_size, batch_size, lambda y, logits: average_precision(y, logits.numpy()))


def curve_summary(curves, by=(), metrics=None):
    """Mean, sd and n over seeds of learning-curve rows (``curves`` has ``seed``, ``images`` and
    metric columns, plus any grouping columns ``by``): long table (by…, images, metric, mean, sd, n)."""
    keys = [*by, "images"]
    metrics = metrics or [c for c in curves.columns if c not in (*keys, "seed", "step")]
    long = curves.melt(id_vars=keys, value_vars=metrics, var_name="metric")
    out = long.groupby([*keys, "metric"], sort=False)["value"].agg(["mean", "std", "count"])
    return out.rename(columns={"std": "sd", "count": "n"}).reset_index()


def plot_learning_curves(summary, *, metric, by="model", references=None, taken_at=None,
                         ax=None, ylabel=None, xscale="log", retrained=None):
    """One line per value of ``by`` (mean ± sd band over seeds) of ``metric`` against training
    images seen (``xscale``: log, or linear for a short stretch of training); ``references``
    (label → value) as horizontal dashed lines (e.g. HOG + SVM); ``taken_at`` (images) marks
    where the chapter's tables are taken. ``retrained``: rows (``by``, ``images``, metric
    columns) of nets trained from scratch on smaller budgets (:func:`retrained_reading`), drawn
    as hollow markers in their line's colour."""
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
        again = None if retrained is None else retrained[retrained[by] == name]
        if again is not None and len(again):
            ax.plot(again["images"], again[metric], linestyle="none", marker="D", markersize=8, markerfacecolor="none",
                    markeredgewidth=1.5, color=line.get_color(), label=f"{name}, retrained on fewer images")
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{7 + i}", linestyle="--", label=label)
    if taken_at is not None:
        ax.axvline(taken_at, color="0.3", linestyle=":", label="tables taken here")
    ax.set(xscale=xscale, xlabel="training images seen", ylabel=ylabel or metric)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize="small")
    return ax


def side_by_side_curves(summary, *, references, taken_at, ylabel, titles=("test faces", "train faces"),
                          xlabel=None, retrained=None):
    """A chapter's learning curves side by side, test faces then training faces
    (:func:`plot_learning_curves` on each, with the same ``references`` lines, ``taken_at`` and
    ``retrained`` markers)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, metric, title in zip(axes, ("test", "train"), titles):
        plot_learning_curves(summary, metric=metric, references=references, taken_at=taken_at, ax=ax, ylabel=ylabel,
                             retrained=retrained)
        ax.set_title(title)
        if xlabel:
            ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def curve_reading(summary, model, *, chance, by="model", tolerance=0.01, margin=0.05) -> dict:
    """What the learning curve of ``model`` (the rows of ``summary`` whose ``by`` is ``model``; its
    metrics ``test`` and ``train``) says at its last point: test and train means over seeds, their
    gap, and the test gain over the last stretch of the curve (the previous point to the last).
    ``flat`` when that gain is under ``tolerance`` or under the seed sd; ``overfits`` when train
    exceeds test by more than ``tolerance``; ``at_chance`` when test is less than ``margin`` above
    ``chance``; ``learned`` when it overfits and is not at chance."""
    part = summary[summary[by] == model]
    test = part[part["metric"] == "test"].sort_values("images")
    train = part[part["metric"] == "train"].sort_values("images")
    if test.empty or train.empty:
        raise ValueError(f"no test and train curve for {by} = {model!r}")
    last, before = test.iloc[-1], test.iloc[-2] if len(test) > 1 else test.iloc[-1]
    gain = last["mean"] - before["mean"]
    sd = 0.0 if np.isnan(last["sd"]) else last["sd"]
    gap = train.iloc[-1]["mean"] - last["mean"]
    reading = {"images": int(last["images"]), "test": last["mean"], "test_sd": sd, "n": int(last["n"]),
               "train": train.iloc[-1]["mean"], "gap": gap, "gain": gain, "since_images": int(before["images"]),
               "flat": gain < max(tolerance, sd), "overfits": gap > tolerance,
               "at_chance": last["mean"] < chance + margin}
    return {**reading, "learned": reading["overfits"] and not reading["at_chance"]}


def curve_text(reading, name, measure="accuracy") -> str:
    """What one net's learning curve (:func:`curve_reading`) says, as a markdown sentence."""
    fitted = ("training clearly above test: it has fitted its training set" if reading["learned"]
              else "both near chance" if reading["at_chance"] else "training no higher than test: not yet fitted")
    trend = ("near chance: nothing learned yet" if reading["at_chance"] else "flattened" if reading["flat"]
             else "still rising: more training would move the tables")
    return (f"At {reading['images']:,} training images {name} reads {100 * reading['test']:.1f} % ({measure}) on the "
            f"test faces and {100 * reading['train']:.1f} % on training faces ({fitted}); the test curve moved "
            f"{100 * reading['gain']:+.1f} points since {reading['since_images']:,} images ({trend}).")


def retrained_reading(curve_rows, retrained_rows, model, *, by="model") -> dict:
    """How much a bigger budget gives, judged by retraining rather than by reading one run part-way.

    A learning curve's earlier points come from the run that goes on to the full budget, at a
    moment when its learning rate has not yet decayed; ``retrained_rows`` are the last points of
    the same net trained from scratch on fewer steps, each with its whole schedule (one or more
    seeds; columns ``by``, ``seed``, ``images``, ``test``). Each is compared with the same seed's
    full-budget result (the last point of its curve in ``curve_rows``). Returns the retrained
    budget (``images``), the full one (``full_images``), both scores (means over the retrained
    seeds), ``gain`` (full − retrained) and the seeds."""
    mine = retrained_rows[retrained_rows[by] == model]
    if mine.empty:
        raise ValueError(f"no retrained run for {by} = {model!r}")
    last = mine.sort_values("images").groupby("seed").tail(1)
    if last["images"].nunique() != 1:
        raise ValueError(f"the retrained runs of {model!r} end at different budgets: {sorted(last['images'].unique())}")
    curve = curve_rows[(curve_rows[by] == model) & curve_rows["seed"].isin(last["seed"])]
    full = curve.sort_values("images").groupby("seed").tail(1).set_index("seed")
    missing = sorted(set(last["seed"]) - set(full.index))
    if missing:
        raise ValueError(f"no learning curve of {model!r} for seed(s) {missing}")
    retrained, at_full = last["test"].mean(), full.loc[last["seed"], "test"].mean()
    return {"images": int(last["images"].iloc[0]), "full_images": int(full["images"].max()), "test": retrained,
            "full_test": at_full, "gain": at_full - retrained, "seeds": sorted(int(s) for s in last["seed"])}


def retrained_text(retrained, reading, name, measure="accuracy", start="from scratch", tolerance=0.01) -> str:
    """:func:`retrained_reading` beside the curve's own last stretch (:func:`curve_reading`), as
    a markdown sentence; ``start`` says where the retrained net began. Where the two disagree
    (the retrained gain under half the curve's rise, or a flat curve — a gain under ``tolerance``
    or the seed sd — while the retrained net gained), it says which to believe."""
    seeds = ", ".join(str(s) for s in retrained["seeds"])
    same = abs(retrained["images"] - reading["since_images"]) <= 0.01 * reading["since_images"]
    against = (f"; the curve's own last stretch, read part-way through the longer run, says {100 * reading['gain']:+.1f}"
               if same else "")
    flat = retrained["gain"] < max(tolerance, reading["test_sd"])
    if same and not reading["flat"] and retrained["gain"] < reading["gain"] / 2:
        against += (". Most of the curve's rise is the end of the longer run's schedule (its learning rate decaying), not "
                    "the larger budget" + (", which moved this net little" if flat else ""))
    elif same and not flat and reading["flat"]:
        against += ". The curve looks flat, but the smaller budget, trained to its end, falls short: the budget still matters"
    return (f"Trained again {start} on {retrained['images']:,} images, with its whole schedule, {name} (seed {seeds}) reads "
            f"{100 * retrained['test']:.1f} % ({measure}) on the test faces, against {100 * retrained['full_test']:.1f} % at "
            f"{retrained['full_images']:,}: the larger budget moved it {100 * retrained['gain']:+.1f} points{against}.")


def budget_to_flat(summary, model, gain=None, *, by="model", tolerance=0.01, max_doublings=10) -> dict:
    """How far a still-rising net is from a flat curve: the training budget at which its test score
    would gain less than ``tolerance`` per doubling of the images seen, if its gain per doubling
    keeps shrinking as it does along its learning curve.

    The shape is a saturating power law, ``test(n) = a - b n^-c`` (the learning-curve model of
    Hestness et al., "Deep learning scaling is predictable, empirically", 2017), fitted by least
    squares to the mean test curve of ``model`` in ``summary``; under it each doubling gains
    ``2^-c`` times what the one before did (``shrink``). ``gain`` is the measured gain of the last
    doubling (:func:`retrained_reading`'s, from a net trained with its whole schedule; by default
    the fit's own at the curve's end; ``measured`` says which). Returns ``shrink``, ``c``, ``gain``, ``doublings`` (more
    doublings until one gains under ``tolerance``; 0 when the last already did), ``factor``
    (``2 ** doublings``) and ``images`` (the budget then); ``doublings`` is NaN when the curve
    shows no slowing (fewer than 3 points, or a fitted ``shrink`` of 0.99 or more) and infinite
    beyond ``max_doublings``. A rough guide (the curve's points come from one run whose learning
    rate decays towards its end), not a prediction of the score."""
    from scipy.optimize import curve_fit

    part = summary[(summary[by] == model) & (summary["metric"] == "test")].sort_values("images")
    if part.empty:
        raise ValueError(f"no test curve for {by} = {model!r}")
    images, score = part["images"].to_numpy(float), part["mean"].to_numpy(float)
    last = images[-1]
    out = {"images_now": int(last), "max_factor": 2 ** max_doublings, "shrink": np.nan, "c": np.nan,
           "gain": np.nan if gain is None else float(gain), "measured": gain is not None, "doublings": np.nan,
           "factor": np.nan, "images": np.nan}
    if len(images) < 3:
        return out
    x = images / last

    def law(x, a, b, c):
        return a - b * x ** -c

    try:
        (a, b, c), _ = curve_fit(law, x, score, p0=(score[-1], max(score[-1] - score[0], 1e-3), 0.5),
                                 bounds=([-np.inf, 0.0, 1e-4], [np.inf, np.inf, 3.0]), maxfev=20000)
    except RuntimeError:
        return out
    shrink = 2.0 ** -c
    gain = b * (2 ** c - 1) if gain is None else float(gain)
    out.update(shrink=shrink, c=c, gain=gain)
    if shrink >= 0.99:
        return out
    doublings = 0 if gain < tolerance else int(np.ceil(np.log(tolerance / gain) / np.log(shrink)))
    if doublings > max_doublings:
        doublings = np.inf
    factor = 2.0 ** doublings
    out.update(doublings=doublings, factor=factor, images=last * factor)
    return out


def flat_figures(estimate) -> dict:
    """The numbers of a :func:`budget_to_flat` estimate a chapter records: ``shrink`` and
    ``doublings``, where finite."""
    return {key: float(estimate[key]) for key in ("shrink", "doublings") if np.isfinite(estimate[key])}


def budget_to_flat_text(estimate, name, reading=None, tolerance=0.01) -> str:
    """:func:`budget_to_flat` as a markdown sentence; empty when ``reading`` (the net's
    :func:`curve_reading`) says it is still near chance, where a flat stretch means nothing learned,
    or, without a measured gain, that its curve has flattened (it has said so)."""
    if reading is not None and (reading["at_chance"] or (reading["flat"] and not estimate["measured"])):
        return ""
    if estimate["gain"] < tolerance:
        return f"Over its last doubling of the images {name} gained under {100 * tolerance:g} point: its curve has flattened."
    if not np.isfinite(estimate["shrink"]) or np.isnan(estimate["doublings"]):
        return (f"Along its curve {name}'s gain per doubling of the images does not shrink yet, so the curve does not "
                "say how many images would flatten it.")
    head = (f"Along its curve {name}'s gain per doubling of the images shrinks about ×{estimate['shrink']:.2f} per "
            f"doubling (a power law through the curve's points); if it keeps doing so, from the "
            f"{100 * estimate['gain']:+.1f} points of the last doubling")
    if not np.isfinite(estimate["doublings"]):
        return head + (f", it would still gain more than {100 * tolerance:g} point per doubling at {estimate['max_factor']:,} "
                       "times this budget.")
    return (head + f", it would gain under {100 * tolerance:g} point per doubling after {estimate['doublings']} more "
            f"doubling{'s' if estimate['doublings'] != 1 else ''}: about {estimate['images']:,.0f} training images, "
            f"{estimate['factor']:.0f} times the {estimate['images_now']:,} seen here.")


def comparison_text(baseline, method, *, baseline_name, method_name) -> str:
    """Whether the end of two learning curves (:func:`curve_reading` of the baseline and of the
    paper's method) can judge the method: *not yet learned* when the baseline has not fitted
    its training set or is at chance (the comparison is made too early to say anything);
    *learned, still rising* when it has, but either test curve still climbs over its last stretch
    (the verdict is provisional: a longer run may change it); otherwise *learned*, and *the effect
    is not there* when the method's gain is not above the seed-to-seed spread."""
    from fercore.seeds import Spread, verdict

    gain = 100 * (method["test"] - baseline["test"])
    subject = baseline_name[:1].upper() + baseline_name[1:]
    if not baseline["learned"]:
        return (f"**Not yet learned.** {subject} has not fitted its training set by the point where the tables are "
                f"taken (train − test {100 * baseline['gap']:+.1f} points{', near chance' if baseline['at_chance'] else ''}), "
                f"so {method_name}'s {gain:+.1f} points say little about the paper's effect: a longer run is needed to judge it.")
    holds = verdict(Spread(method["test"], method["test_sd"], method["n"]),
                    Spread(baseline["test"], baseline["test_sd"], baseline["n"]))
    rising = [f"{name} {100 * r['gain']:+.1f}" for name, r in ((baseline_name, baseline), (method_name, method))
              if not r["flat"]]
    if rising:
        head = "Learned, still rising"
        tail = (f" Both are provisional: the test curves still climb over their last stretch ({', '.join(rising)} "
                f"points since {baseline['since_images']:,} images), so a longer run may change the verdict.")
    else:
        head = "Learned" if holds == "holds" else "Learned, and the effect is not there"
        tail = ""
    return (f"**{head}.** {subject} has fitted its training set (train − test {100 * baseline['gap']:+.1f} points), "
            f"so the comparison is made on a net that has learned the task: {method_name} − {baseline_name} is "
            f"{gain:+.1f} points at the end of the curves; {method_name} > {baseline_name} {holds}.{tail}")


def hog_svm_reference(train_images, train_labels, test_images, test_labels, n_classes, svm) -> dict:
    """HOG + SVM on a chapter's split (RAF-DB §5's descriptor, :func:`fercore.features.make_features`,
    and ``svm`` from :func:`fercore.classifiers.make_classifier`): the test scores of
    :func:`fercore.classifiers.evaluate_split` (``accuracy``, ``mean_diag``…)."""
    from fercore.classifiers import evaluate_split
    from fercore.features import make_features

    hog = make_features("hog")
    return evaluate_split(svm, hog.fit_transform(train_images), train_labels, hog.transform(test_images),
                          test_labels, n_classes)
