"""Single-task, classical multi-task and SJMT training of CIFAR-style nets (Pons & Masip 2018).

The three setups of the paper's Figure 1, as one scikit-learn-style estimator,
:class:`MultiTaskNet`, trained by :class:`fercore.train.Trainer`:

- ``method="single"``: one net, one task, one head (softmax cross-entropy for an emotion task,
  sigmoid cross-entropy for an AU task);
- ``method="multitask"``: a shared trunk, one head and one loss per task, batches alternating
  between the tasks' datasets;
- ``method="sjmt"``: one head over the union of the tasks' labels, mixed-dataset batches, the
  dataset-wise selective sigmoid cross-entropy (Eq. 1,
  :class:`fercore.losses.SelectiveSigmoidCrossEntropy`).

Each task is a :class:`fercore.datasets.FaceSet` (grayscale faces of one dataset in one label
space: single labels, or 0/1 label sets from :meth:`~fercore.datasets.FaceSet.binarized`; NaN =
not coded, ignored by the losses and by :func:`au_accuracy`). The paper's schedule
(§4): batch 128, SGD lr 0.05 decayed exponentially (staircase) every 10k of 80k steps, batch
norm, padding + random-crop augmentation, every net pre-trained on FER2013 (fit a ``single``
net on the FER2013 task and pass its :meth:`MultiTaskNet.trunk_state_dict` as ``init_from``).
The AU accuracy of Eq. 3 and AU profiles per predicted emotion are here too; the chapter's
tasks, run grid and tables are in :mod:`fercore.experiments.sjmt`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from torch import nn

from fercore.batches import AlternatingBatches, MixedBatches, RandomBatches
from fercore.datasets import FaceSet
from fercore.devices import resolve_device
from fercore.inputs import crop_flip, float_tensor
from fercore.losses.objectives import HeadObjective, SelectiveObjective
from fercore.nets.resnet_cifar import ResNetCIFAR
from fercore.nets.vgg import VGG16
from fercore.recipe import recipe_schedule
from fercore.train import Trainer

METHODS = ("single", "multitask", "sjmt")
MIXES = ("equal", "proportional")


def build_trunk(net, width=1.0):
    """A headless grayscale trunk with ``features()`` and ``feature_dim``: ``"resnet32"``,
    ``"resnet110"`` (any ``"resnet<6n+2>"``) or ``"vgg16"`` (from scratch, batch norm)."""
    if net.startswith("resnet") and net[6:].isdigit():
        return ResNetCIFAR(int(net[6:]), num_classes=0, in_channels=1, width=width)
    if net == "vgg16":
        return VGG16(num_classes=0, in_channels=1, width=width, fc_dim=max(1, round(4096 * width)))
    raise ValueError(f"unknown net {net!r}; use 'resnet32', 'resnet110' or 'vgg16'")


class MultiHeadNet(nn.Module):
    """A shared trunk and one linear head per name: ``forward(x, head)`` gives that head's logits."""

    def __init__(self, trunk, heads, dropout=0.0):
        super().__init__()
        if not heads:
            raise ValueError("MultiHeadNet needs at least one head")
        self.trunk = trunk
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(trunk.feature_dim, size) for name, size in heads.items()})

    def features(self, x):
        return self.trunk.features(x)

    def forward(self, x, head=None):
        if head is None:
            if len(self.heads) != 1:
                raise ValueError(f"name the head to use: {list(self.heads)}")
            head = next(iter(self.heads))
        if head not in self.heads:
            raise ValueError(f"no head {head!r}; heads are {list(self.heads)}")
        return self.heads[head](self.dropout(self.features(x)))


class _Augment:
    """RandomBatches transform: a random ``size`` crop of the (zero-padded) faces, mirrored at
    random when ``flip`` (:func:`fercore.inputs.crop_flip`), packed as the dict the objectives read."""

    def __init__(self, size, flip=False, head=None):
        self.size, self.flip, self.head = size, flip, head

    def __call__(self, batch, generator):
        images, targets, *rest = batch
        out = {"images": crop_flip(images, self.size, generator, self.flip), "targets": targets}
        if self.head is not None:
            out["head"] = self.head
        if rest:
            out["dataset"] = rest[0]
        return out


class MultiTaskNet(BaseEstimator):
    """A CIFAR-style net trained on one or several tasks (:class:`~fercore.datasets.FaceSet` s),
    single, multi-task or SJMT.

    Parameters
    ----------
    method : ``"single"``, ``"multitask"`` (shared trunk, a head per task, alternating batches)
        or ``"sjmt"`` (one head over the union of labels, mixed batches, Eq. 1).
    net : ``"resnet32"``, ``"resnet110"`` or ``"vgg16"``; ``width`` scales its channels.
    input_size : side the faces are resized to; ``pad`` the zero padding of the random crop.
    flip : also mirror the training crops left–right at random (the deep chapters' shared
        recipe, :mod:`fercore.recipe`; the paper: padding and random crops only, False).
    iterations, batch_size, lr, momentum, weight_decay : SGD schedule (paper: 80k, 128, 0.05;
        the weight decay is not given, 1e-4 is He et al.'s for CIFAR ResNets).
    decay_every, decay_rate : staircase exponential decay ``lr · decay_rate^⌊step/decay_every⌋``
        (paper: every 10k steps; the rate is not given, 0.5 is our choice); ``decay_every=None``
        uses the paper's ratio, iterations / 8.
    warmup, lr_schedule : the shared recipe's linear warm-up (a fraction of the run) and
        ``"step"`` (the staircase) or ``"cosine"`` (a cosine decay to 0 instead;
        :func:`fercore.recipe.recipe_schedule`); the paper: 0 and ``"step"``.
    mix : SJMT batches with an ``"equal"`` share of every task, or ``"proportional"`` to task
        size (all images pooled and shuffled); multi-task batches alternate.
    equal_exposure : a net trained on ``k`` tasks runs ``k × iterations`` steps (and decays its
        learning rate ``k`` times less often), so each task's images are drawn as often as by a
        single-task net of ``iterations`` steps: a multi-task net gives each task every ``k``-th
        batch, an SJMT batch (``mix="equal"``) holds ``batch_size / k`` images of each. The paper runs every net
        for the same 80k steps (False), long enough for all of them to converge; a short run
        at equal steps instead measures how fast each net learns from half the samples.
    dropout : before the heads; default (None) 0.5 for VGG-16, as in the paper, 0 for the ResNets.
    init_from : a trunk ``state_dict`` to start from (:meth:`trunk_state_dict` of the net
        pre-trained on FER2013).
    seed, device, checkpoint : passed to :class:`fercore.train.Trainer`.

    After :meth:`fit`: ``model_`` (a :class:`MultiHeadNet`), ``tasks_`` (name → (kind, class
    names)), ``outputs_`` (SJMT: the union of labels), ``history_`` (per-step log), ``curve_``
    (the learning curve recorded during the fit; empty without one).
    """

    def __init__(self, method="sjmt", net="resnet32", width=1.0, input_size=48, pad=4, flip=False,
                 iterations=80_000, batch_size=128, lr=0.05, decay_every=10_000, decay_rate=0.5,
                 warmup=0.0, lr_schedule="step", momentum=0.9, weight_decay=1e-4, mix="equal",
                 equal_exposure=False, dropout=None, init_from=None, seed=0, device="auto", checkpoint=None):
        self.method = method
        self.net = net
        self.width = width
        self.input_size = input_size
        self.pad = pad
        self.flip = flip
        self.iterations = iterations
        self.batch_size = batch_size
        self.lr = lr
        self.decay_every = decay_every
        self.decay_rate = decay_rate
        self.warmup = warmup
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.mix = mix
        self.equal_exposure = equal_exposure
        self.dropout = dropout
        self.init_from = init_from
        self.seed = seed
        self.device = device
        self.checkpoint = checkpoint

    def schedule(self, n_tasks=1):
        """The :class:`fercore.train.Schedule` of a net trained on ``n_tasks`` tasks
        (:func:`fercore.recipe.recipe_schedule`): the staircase exponential decay as drops by
        ``decay_rate`` every ``decay_every`` steps (or a cosine decay), after ``warmup``;
        stretched ``n_tasks`` times under ``equal_exposure``."""
        if n_tasks < 1:
            raise ValueError(f"n_tasks must be at least 1, got {n_tasks}")
        stretch = n_tasks if self.equal_exposure else 1
        every = self.decay_every or max(1, self.iterations // 8)
        drops = tuple(step / self.iterations for step in range(every, self.iterations, every))
        return recipe_schedule(self.iterations * stretch, self.lr, drops=drops, warmup=self.warmup,
                               shape=self.lr_schedule, gamma=self.decay_rate, momentum=self.momentum,
                               weight_decay=self.weight_decay)

    def _check(self, tasks):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.mix not in MIXES:
            raise ValueError(f"mix must be one of {MIXES}, got {self.mix!r}")
        tasks = [tasks] if isinstance(tasks, FaceSet) else list(tasks)
        if not tasks or not all(isinstance(t, FaceSet) for t in tasks):
            raise ValueError("fit needs a FaceSet or a list of FaceSets")
        for t in tasks:
            if t.images.ndim != 3:
                raise ValueError(f"task {t.name!r}: images must be grayscale (n, H, W), got {t.images.shape}")
            if t.label_kind != "single" and not (np.isin(t.labels, (0, 1)) | np.isnan(t.labels)).all():
                raise ValueError(f"task {t.name!r}: {t.label_kind} labels must be 0/1 label sets (or NaN); "
                                 "use faceset.binarized()")
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        if self.method == "single" and len(tasks) != 1:
            raise ValueError(f"method='single' trains on one task, got {len(tasks)}: {names}")
        if self.method == "multitask" and len(tasks) < 2:
            raise ValueError("method='multitask' needs at least two tasks")
        empty = [t.name for t in tasks if len(t) == 0]
        if empty:
            raise ValueError(f"tasks without images: {empty}")
        return tasks

    def _targets(self, task, device):
        if self.method != "sjmt":
            dtype = torch.long if task.label_kind == "single" else torch.float32
            return torch.as_tensor(task.labels, dtype=dtype, device=device)
        columns = torch.as_tensor([self.outputs_.index(c) for c in task.class_names])
        targets = torch.zeros(len(task), len(self.outputs_))
        if task.label_kind == "single":
            targets[torch.arange(len(task)), columns[task.labels]] = 1.0
        else:
            targets[:, columns] = torch.as_tensor(task.labels)
        return targets.to(device)

    def fit(self, tasks, curve=None):
        """Train on ``tasks`` (a :class:`~fercore.datasets.FaceSet` or a list); returns ``self``.
        ``curve``: a :class:`fercore.curves.LearningCurve` recorded during the run; ``model_`` is
        the net being trained meanwhile, so its ``evaluate`` may call :meth:`score`. Its
        ``images`` count the training images drawn per task (``batch_size / len(tasks)`` per step)."""
        tasks = self._check(tasks)
        device = resolve_device(self.device)
        self.tasks_ = {t.name: (t.label_kind, t.class_names) for t in tasks}
        if self.method == "sjmt":
            self.outputs_ = tuple(dict.fromkeys(c for t in tasks for c in t.class_names))
            heads = {"joint": len(self.outputs_)}
        else:
            self.outputs_ = None
            heads = {t.name: len(t.class_names) for t in tasks}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            dropout = self.dropout if self.dropout is not None else (0.5 if self.net == "vgg16" else 0.0)
            model = MultiHeadNet(build_trunk(self.net, self.width), heads, dropout)
        if self.init_from is not None:
            model.trunk.load_state_dict(self.init_from)
        streams = []
        shares = self._batch_shares(tasks)
        generator = np.random.default_rng(self.seed)
        for d, (task, share) in enumerate(zip(tasks, shares)):
            images = torch.as_tensor(task.images)[:, None]
            if tuple(images.shape[-2:]) != (self.input_size,) * 2:
                images = (float_tensor(images, self.input_size) * 255).round().to(torch.uint8)
            images = torch.nn.functional.pad(images, (self.pad,) * 4).to(device)
            extra = () if self.method != "sjmt" else (torch.full((len(task),), d, dtype=torch.long, device=device),)
            head = None if self.method == "sjmt" else task.name
            streams.append(RandomBatches(images, self._targets(task, device), *extra,
                                         batch_size=min(share, len(task)),
                                         seed=int(generator.integers(2**31)),
                                         transform=_Augment(self.input_size, self.flip, head)))
        if self.method == "sjmt":
            spaces = [[self.outputs_.index(c) for c in t.class_names] for t in tasks]
            objective = SelectiveObjective(spaces, len(self.outputs_))
            batches = MixedBatches(streams) if self.mix == "equal" else self._pooled(streams)
        else:
            objective = HeadObjective({t.name: len(t.class_names) if t.label_kind != "single" else 0 for t in tasks})
            batches = streams[0] if len(streams) == 1 else AlternatingBatches(streams)
        trainer = Trainer(model, objective, self.schedule(len(tasks)), device=device, seed=self.seed,
                          checkpoint=self.checkpoint, checkpoint_every=1000 if self.checkpoint else 0,
                          desc=f"{self.method} {self.net}")
        self.model_ = trainer.model
        if curve is None:
            self.history_, self.curve_ = trainer.fit(batches), pd.DataFrame()
        else:
            self.history_ = curve.fit(trainer, batches, images_per_step=self.batch_size / len(tasks))
            self.curve_ = curve.frame
        self.model_.eval()
        return self

    def _batch_shares(self, tasks):
        """Images per batch from each task's stream."""
        if self.method != "sjmt" or self.mix == "proportional":
            return [self.batch_size] * len(tasks)
        base, extra = divmod(self.batch_size, len(tasks))
        if base == 0:
            raise ValueError(f"batch_size {self.batch_size} is smaller than the {len(tasks)} tasks")
        return [base + (d < extra) for d in range(len(tasks))]

    def _pooled(self, streams):
        """All tasks' images in one shuffled stream (SJMT with ``mix="proportional"``)."""
        images, targets, dataset = (torch.cat(parts) for parts in zip(*(s.tensors for s in streams)))
        return RandomBatches(images, targets, dataset, batch_size=min(self.batch_size, len(images)),
                             seed=self.seed, transform=_Augment(self.input_size, self.flip))

    def trunk_state_dict(self):
        """The trained trunk's weights (CPU copies), for ``init_from`` of the next net."""
        return {k: v.detach().cpu().clone() for k, v in self.model_.trunk.state_dict().items()}

    def predict_scores(self, images, task, batch_size=256):
        """Logits ``(n, K)`` of ``task``'s classes, in its class order, for uint8 faces ``images``.

        A multi-task or SJMT net predicts every task it was trained on, also for images of
        another dataset (an SFEW face gets AU scores)."""
        if task not in self.tasks_:
            raise ValueError(f"no task {task!r}; this net was trained on {list(self.tasks_)}")
        head = "joint" if self.method == "sjmt" else task
        device = next(self.model_.parameters()).device
        out = []
        self.model_.eval()
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                x = float_tensor(images[start:start + batch_size], self.input_size).to(device)
                out.append(self.model_(x, head).float().cpu())
        logits = torch.cat(out) if out else torch.zeros(0, len(self.model_.heads[head].weight))
        if self.method == "sjmt":
            logits = logits[:, [self.outputs_.index(c) for c in self.tasks_[task][1]]]
        return logits.numpy()

    def predict_proba(self, images, task):
        """Class probabilities: softmax for a single-label head, sigmoid for multi-label and SJMT."""
        logits = torch.as_tensor(self.predict_scores(images, task))
        if self.method != "sjmt" and self.tasks_[task][0] == "single":
            return torch.softmax(logits, dim=1).numpy()
        return torch.sigmoid(logits).numpy()

    def predict(self, images, task):
        """Class indices for a single-label task, 0/1 presence (σ > 0.5) for a multi-label one."""
        proba = self.predict_proba(images, task)
        if self.tasks_[task][0] == "single":
            return proba.argmax(axis=1)
        return (proba > 0.5).astype(np.float32)

    def score(self, task):
        """Accuracy on a test task (a :class:`~fercore.datasets.FaceSet`): plain accuracy for
        emotions, the mean of Eq. 3 over AUs."""
        kind, names = self.tasks_.get(task.name, (None, None))
        if names != task.class_names:
            raise ValueError(f"test task {task.name!r} {task.class_names} does not match a trained task "
                             f"({ {k: v[1] for k, v in self.tasks_.items()} })")
        predicted = self.predict(task.images, task.name)
        if kind == "single":
            return float(np.mean(predicted == task.labels))
        return float(np.nanmean(au_accuracy(task.labels, predicted)))


def majority_accuracy(train, test):
    """Accuracy on ``test`` of always predicting ``train``'s most frequent class (single-label),
    or each AU's more frequent value (multi-label, Eq. 3 averaged): the floor a net must beat."""
    if train.label_kind == "single":
        majority = np.bincount(train.labels, minlength=len(train.class_names)).argmax()
        return float(np.mean(test.labels == majority))
    present = np.nanmean(train.labels, axis=0) > 0.5
    return float(np.nanmean(au_accuracy(test.labels, np.broadcast_to(present, test.labels.shape))))


def au_accuracy(y_true, y_pred):
    """Per-AU accuracy of Pons & Masip Eq. 3, ``(TP_c + TN_c) / N_c`` for each column ``c``.

    ``y_true`` and ``y_pred`` are ``(N, C)`` 0/1 matrices; NaN in ``y_true`` (not coded) leaves
    that image out of ``N_c``. The paper reports the mean over AUs (without NaN: 1 − Hamming loss)."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or not len(y_true):
        raise ValueError(f"expected two non-empty (N, C) matrices of one shape, got {y_true.shape} and {y_pred.shape}")
    coded = ~np.isnan(y_true)
    true, pred = y_true > 0.5, y_pred > 0.5
    tp = (true & pred & coded).sum(axis=0)
    tn = (~true & ~pred & coded).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(coded.any(axis=0), (tp + tn) / coded.sum(axis=0), np.nan)


def au_profile(groups, au_scores, group_names, au_names):
    """Mean AU score of the images of each group (e.g. each predicted emotion): the paper's
    Figure 2 as a ``groups × AUs`` DataFrame (groups with no image are dropped)."""
    groups, au_scores = np.asarray(groups), np.asarray(au_scores, dtype=float)
    if au_scores.shape != (len(groups), len(au_names)):
        raise ValueError(f"au_scores must be ({len(groups)}, {len(au_names)}), got {au_scores.shape}")
    rows = {name: au_scores[groups == g].mean(axis=0) for g, name in enumerate(group_names) if (groups == g).any()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(au_names))


def profile_correlation(predicted, truth):
    """Pearson correlation, row by row, of two ``groups × AUs`` profiles (over the shared rows
    and columns); NaN where a row is constant."""
    rows = [r for r in predicted.index if r in truth.index]
    cols = [c for c in predicted.columns if c in truth.columns]
    a = predicted.loc[rows, cols].to_numpy(float)
    b = truth.loc[rows, cols].to_numpy(float)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return pd.Series(r, index=rows, name="pearson_r")


def top_aus(profile, k=3):
    """The ``k`` highest-scoring AUs of each row of a profile (the paper's Table 3)."""
    return {row: list(profile.loc[row].sort_values(ascending=False).index[:k]) for row in profile.index}


def truth_au_matrix(truth, au_names):
    """The generator's true AU intensities ``(n, len(au_names))`` from a truth sidecar, whose
    columns are named like the AUs (``AU12``) or ``au12``/``au_12``."""
    if truth is None:
        raise ValueError("no ground truth: this is not a synthetic copy")
    lookup = {c.lower().replace("_", ""): c for c in truth.columns}
    missing = [a for a in au_names if a.lower() not in lookup]
    if missing:
        raise ValueError(f"truth sidecar has no columns for {missing}; columns are {list(truth.columns)}")
    return truth[[lookup[a.lower()] for a in au_names]].to_numpy(float)
