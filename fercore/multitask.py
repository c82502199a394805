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

Each task is a :class:`Task` (images of one dataset plus one label space). The paper's schedule
(§4): batch 128, SGD lr 0.05 decayed exponentially (staircase) every 10k of 80k steps, batch
norm, padding + random-crop augmentation, every net pre-trained on FER2013 (fit a ``single``
net on the FER2013 task and pass its :meth:`MultiTaskNet.trunk_state_dict` as ``init_from``).
The chapter's data preparation and analyses (AU accuracy of Eq. 3, AU profiles per predicted
emotion) are here too.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from torch import nn
from torch.nn import functional as F

from fercore.labels import AUS
from fercore.losses.selective import SelectiveSigmoidCrossEntropy
from fercore.metrics import per_class_recall
from fercore.nets.resnet_cifar import ResNetCIFAR
from fercore.nets.vgg import VGG16
from fercore.paper import paper_cell, paper_table, paper_values
from fercore.seeds import Kept, grid, mean_sd_text, run_over_seeds
from fercore.seeds import record_summary as record_seed_summary
from fercore.seeds import summarize as summarize_seeds
from fercore.train import RandomBatches, Schedule, Trainer, resolve_device

METHODS = ("single", "multitask", "sjmt")
TASK_KINDS = ("single", "multilabel")
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


@dataclass
class Task:
    """Faces of one dataset and their labels in one label space.

    ``labels``: ``(n,)`` class indices for ``kind="single"``, ``(n, K)`` 0/1 for ``"multilabel"``
    (NaN = not coded for that image: ignored by the losses and by :func:`au_accuracy`).
    ``files`` and ``truth`` (optional): file names, and the generator's ground truth, row-aligned
    with ``images``.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    kind: str = "single"
    files: np.ndarray | None = field(default=None, repr=False)
    truth: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self):
        self.class_names = tuple(self.class_names)
        self.labels = np.asarray(self.labels)
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name!r}: kind must be one of {TASK_KINDS}, got {self.kind!r}")
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError(f"task {self.name!r}: images must be uint8 (n, H, W), got {self.images.dtype} {self.images.shape}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"task {self.name!r}: {len(self.labels)} labels for {len(self.images)} images")
        k = len(self.class_names)
        if self.kind == "single":
            if self.labels.ndim != 1 or (len(self.labels) and not (0 <= self.labels.min() and self.labels.max() < k)):
                raise ValueError(f"task {self.name!r}: single-label labels must be (n,) indices in 0..{k - 1}")
            self.labels = self.labels.astype(np.int64)
        else:
            if self.labels.shape != (len(self.images), k) or not (np.isin(self.labels, (0, 1)) | np.isnan(self.labels)).all():
                raise ValueError(f"task {self.name!r}: multi-label labels must be (n, {k}) of 0/1 (or NaN) values")
            self.labels = self.labels.astype(np.float32)
        if self.files is not None:
            self.files = np.asarray(self.files, dtype=object)
        for what in ("files", "truth"):
            value = getattr(self, what)
            if value is not None and len(value) != len(self.images):
                raise ValueError(f"task {self.name!r}: {what} has {len(value)} rows for {len(self.images)} images")

    def __len__(self):
        return len(self.images)

    @classmethod
    def from_faceset(cls, faceset, name=None, classes=None):
        """A task from a loader's :class:`~fercore.datasets.FaceSet`.

        ``classes`` keeps only those class names (a single-label set drops the other images and
        re-indexes; a multi-label set keeps those columns). Multi-label values are thresholded
        at 0.5; unknown (NaN) ones stay NaN.
        """
        labels, names = faceset.labels, tuple(faceset.class_names)
        keep = np.ones(len(faceset), bool)
        if classes is not None:
            missing = [c for c in classes if c not in names]
            if missing:
                raise ValueError(f"{faceset.name}: no classes {missing}; it has {names}")
            columns = [names.index(c) for c in classes]
            if faceset.label_kind == "single":
                keep = np.isin(labels, columns)
                remap = np.full(len(names), -1)
                remap[columns] = np.arange(len(columns))
                labels = remap[labels]
            else:
                labels = labels[:, columns]
            names = tuple(classes)
        kind = "single" if faceset.label_kind == "single" else "multilabel"
        if kind == "multilabel":
            labels = np.where(np.isnan(labels), np.nan, labels > 0.5).astype(np.float32)
        index = np.flatnonzero(keep)
        truth = None if faceset.truth is None else faceset.truth.iloc[index].reset_index(drop=True)
        return cls(name or faceset.name, faceset.images[index], labels[index], names, kind,
                   faceset.files[index], truth)

    def subset(self, index) -> "Task":
        """The rows picked by an index array or a boolean mask."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        truth = None if self.truth is None else self.truth.iloc[index].reset_index(drop=True)
        files = None if self.files is None else self.files[index]
        return replace(self, images=self.images[index], labels=self.labels[index], files=files, truth=truth)


def as_input(images, size=None):
    """uint8 ``(n, H, W)`` (or ``(n, 1, H, W)``) faces → float ``(n, 1, size, size)`` in [0, 1]."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.ndim == 3:
        x = x[:, None]
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def pad_random_crop(images, pad, generator):
    """Zero-pad by ``pad`` pixels and crop back to the input size at a random offset per image
    (the CIFAR augmentation Pons & Masip use); ``images`` ``(n, C, H, W)``, uint8 or float."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if pad <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    rows = (offsets[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (offsets[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


class _Augment:
    """RandomBatches transform: pad + random crop, packed as the dict the objectives read."""

    def __init__(self, pad, head=None):
        self.pad, self.head = pad, head

    def __call__(self, batch, generator):
        images, targets, *rest = batch
        out = {"images": pad_random_crop(images, self.pad, generator), "targets": targets}
        if self.head is not None:
            out["head"] = self.head
        if rest:
            out["dataset"] = rest[0]
        return out


class AlternatingBatches:
    """Round robin over several batch streams: one dataset's batch per step (classical multi-task)."""

    def __init__(self, streams):
        self.streams, self.turn = list(streams), 0

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.streams[self.turn])
        self.turn = (self.turn + 1) % len(self.streams)
        return batch

    def state_dict(self):
        return {"turn": self.turn, "streams": [s.state_dict() for s in self.streams]}

    def load_state_dict(self, state):
        self.turn = state["turn"]
        for s, st in zip(self.streams, state["streams"]):
            s.load_state_dict(st)


class MixedBatches(AlternatingBatches):
    """One batch drawn from every stream, concatenated: mixed-dataset batches for SJMT."""

    def __next__(self):
        parts = [next(s) for s in self.streams]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


class HeadObjective(nn.Module):
    """Loss of ``single`` and ``multitask`` training on the batch's head: softmax cross-entropy for
    a single-label task; for a multi-label one, sigmoid cross-entropy summed over the (coded)
    classes and averaged over the batch — Eq. 1 with one label space.

    The other heads join the graph with weight zero, so each step gives them a zero gradient
    rather than none: their momentum and weight decay act every step, on the CPU as under the
    fused CUDA SGD (which rejects parameters whose gradient appears only from a later step on).
    """

    def __init__(self, sizes):
        super().__init__()
        self.multilabel = nn.ModuleDict({
            head: SelectiveSigmoidCrossEntropy(torch.ones(1, size, dtype=torch.bool), ignore_nan=True)
            for head, size in sizes.items() if size})

    def forward(self, model, batch):
        head, targets = batch["head"], batch["targets"]
        logits = model(batch["images"], head)
        if head in self.multilabel:
            dataset = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
            loss = self.multilabel[head](logits, targets, dataset)
        else:
            loss = F.cross_entropy(logits, targets)
        idle = [p.sum() for name, layer in model.heads.items() if name != head for p in layer.parameters()]
        if idle:
            loss = loss + 0.0 * torch.stack(idle).sum()
        return {"loss": loss}


class SelectiveObjective(nn.Module):
    """Loss of SJMT training: Eq. 1 over the shared head's union of labels."""

    def __init__(self, label_spaces, num_outputs, head="joint"):
        super().__init__()
        self.criterion = SelectiveSigmoidCrossEntropy(label_spaces, num_outputs, ignore_nan=True)
        self.head = head

    def forward(self, model, batch):
        logits = model(batch["images"], self.head)
        return {"loss": self.criterion(logits, batch["targets"], batch["dataset"])}


class MultiTaskNet(BaseEstimator):
    """A CIFAR-style net trained on one or several :class:`Task` s, single, multi-task or SJMT.

    Parameters
    ----------
    method : ``"single"``, ``"multitask"`` (shared trunk, a head per task, alternating batches)
        or ``"sjmt"`` (one head over the union of labels, mixed batches, Eq. 1).
    net : ``"resnet32"``, ``"resnet110"`` or ``"vgg16"``; ``width`` scales its channels.
    input_size : side the faces are resized to; ``pad`` the padding of the random crop.
    iterations, batch_size, lr, momentum, weight_decay : SGD schedule (paper: 80k, 128, 0.05).
    decay_every, decay_rate : staircase exponential decay ``lr · decay_rate^⌊step/decay_every⌋``
        (paper: every 10k steps; the rate is not given, 0.5 is our choice); ``decay_every=None``
        uses the paper's ratio, iterations / 8.
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
    names)), ``outputs_`` (SJMT: the union of labels), ``history_`` (per-step log).
    """

    def __init__(self, method="sjmt", net="resnet32", width=1.0, input_size=48, pad=4,
                 iterations=80_000, batch_size=128, lr=0.05, decay_every=10_000, decay_rate=0.5,
                 momentum=0.9, weight_decay=1e-4, mix="equal", equal_exposure=False, dropout=None,
                 init_from=None, seed=0, device="auto", checkpoint=None):
        self.method = method
        self.net = net
        self.width = width
        self.input_size = input_size
        self.pad = pad
        self.iterations = iterations
        self.batch_size = batch_size
        self.lr = lr
        self.decay_every = decay_every
        self.decay_rate = decay_rate
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
        """The :class:`fercore.train.Schedule` of a net trained on ``n_tasks`` tasks: staircase
        exponential decay as multi-step milestones, stretched ``n_tasks`` times under
        ``equal_exposure``."""
        if n_tasks < 1:
            raise ValueError(f"n_tasks must be at least 1, got {n_tasks}")
        stretch = n_tasks if self.equal_exposure else 1
        iterations = self.iterations * stretch
        every = (self.decay_every or max(1, self.iterations // 8)) * stretch
        return Schedule(iterations=iterations, lr=self.lr, momentum=self.momentum,
                        milestones=tuple(range(every, iterations, every)), gamma=self.decay_rate,
                        weight_decay=self.weight_decay)

    def _check(self, tasks):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.mix not in MIXES:
            raise ValueError(f"mix must be one of {MIXES}, got {self.mix!r}")
        tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise ValueError("fit needs a Task or a list of Tasks")
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
            dtype = torch.long if task.kind == "single" else torch.float32
            return torch.as_tensor(task.labels, dtype=dtype, device=device)
        columns = torch.as_tensor([self.outputs_.index(c) for c in task.class_names])
        targets = torch.zeros(len(task), len(self.outputs_))
        if task.kind == "single":
            targets[torch.arange(len(task)), columns[task.labels]] = 1.0
        else:
            targets[:, columns] = torch.as_tensor(task.labels)
        return targets.to(device)

    def fit(self, tasks):
        """Train on ``tasks`` (a :class:`Task` or a list); returns ``self``."""
        tasks = self._check(tasks)
        device = resolve_device(self.device)
        self.tasks_ = {t.name: (t.kind, t.class_names) for t in tasks}
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
            images = torch.as_tensor(task.images)[:, None].to(device)
            if tuple(images.shape[-2:]) != (self.input_size,) * 2:
                images = (as_input(images.cpu(), self.input_size) * 255).round().to(torch.uint8).to(device)
            extra = () if self.method != "sjmt" else (torch.full((len(task),), d, dtype=torch.long, device=device),)
            head = None if self.method == "sjmt" else task.name
            streams.append(RandomBatches(images, self._targets(task, device), *extra,
                                         batch_size=min(share, len(task)),
                                         seed=int(generator.integers(2**31)), transform=_Augment(self.pad, head)))
        if self.method == "sjmt":
            spaces = [[self.outputs_.index(c) for c in t.class_names] for t in tasks]
            objective = SelectiveObjective(spaces, len(self.outputs_))
            batches = MixedBatches(streams) if self.mix == "equal" else self._pooled(streams)
        else:
            objective = HeadObjective({t.name: len(t.class_names) if t.kind == "multilabel" else 0 for t in tasks})
            batches = streams[0] if len(streams) == 1 else AlternatingBatches(streams)
        trainer = Trainer(model, objective, self.schedule(len(tasks)), device=device, seed=self.seed,
                          checkpoint=self.checkpoint, checkpoint_every=1000 if self.checkpoint else 0,
                          desc=f"{self.method} {self.net}")
        self.history_ = trainer.fit(batches)
        self.model_ = trainer.model.eval()
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
                             seed=self.seed, transform=_Augment(self.pad))

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
                x = as_input(images[start:start + batch_size], self.input_size).to(device)
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
        """Accuracy on a test :class:`Task`: plain accuracy for emotions, the mean of Eq. 3 over AUs."""
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
    if train.kind == "single":
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



# ------------------------------------------------------------------ the chapter's experiments

PAPER_COMPOUNDS = ("angrily disgusted", "angrily surprised", "fearfully angry", "fearfully surprised",
                   "happily disgusted", "happily surprised", "sadly angry", "sadly disgusted")
"""The eight EmotioNet compound classes of Pons & Masip's Table 4, in its order."""


def load_chapter_tasks(data_root, input_size=48, seed=0, emotionet_test=1000, ckplus_test=0.3,
                       compound_per_class=15, compound_min_test=2):
    """The chapter's tasks as ``name -> (train, test)`` :class:`Task` pairs, faces at ``input_size``.

    - ``fer2013``: pre-training (train + val usages) and its test usage;
    - ``sfew``: emotions, Train / Val (the paper tests on Val);
    - ``emotionet``: the AU set, ``emotionet_test`` random images held out (the paper: 1,000),
      at most half of the set;
    - ``ckplus_emotion`` (first and peak frames, 7 classes) and ``ckplus_au`` (peak frames, the
      EmotioNet AUs): one subject-independent split, ``ckplus_test`` of the subjects tested;
    - ``compound``: the eight compound classes of the emotion-labelled EmotioNet subset,
      ``compound_per_class`` training images per class (the paper: 15), keeping at least
      ``compound_min_test`` of each class for testing; ``emotionet_for_compound``: the AU set
      without the compound test images (the AU task SJMT trains with in Table 4; no test part).
    """
    from fercore.datasets import load

    rng = np.random.default_rng(seed)
    tasks = {}
    fer = load("fer2013", data_root, size=input_size)
    fer_task = Task.from_faceset(fer, "fer2013")
    tasks["fer2013"] = (fer_task.subset(fer.split != "test"), fer_task.subset(fer.split == "test"))
    sfew = load("sfew", data_root, size=input_size)
    sfew_task = Task.from_faceset(sfew, "sfew")
    tasks["sfew"] = (sfew_task.subset(sfew.split == "train"), sfew_task.subset(sfew.split == "val"))

    au = Task.from_faceset(load("emotionet", data_root, size=input_size), "emotionet")
    n_test = min(int(emotionet_test), len(au) // 2)
    test = np.zeros(len(au), bool)
    test[rng.choice(len(au), n_test, replace=False)] = True
    tasks["emotionet"] = (au.subset(~test), au.subset(test))

    emotion = load("emotionet", data_root, labels="emotion", size=input_size)
    compound = Task.from_faceset(emotion, "compound", classes=PAPER_COMPOUNDS)
    train = np.zeros(len(compound), bool)
    train[sample_per_class(compound.labels, compound_per_class, seed, min_left=compound_min_test)] = True
    tasks["compound"] = (compound.subset(train), compound.subset(~train))
    tasks["emotionet_for_compound"] = (au.subset(~np.isin(au.files, compound.files[~train])), None)

    ck = load("ckplus", data_root, frames="first_and_peak", size=input_size)
    ck_au = load("ckplus", data_root, labels="au", size=input_size)
    subjects = np.unique(ck.subjects)
    n_test_subjects = max(1, round(len(subjects) * ckplus_test))
    test_subjects = rng.choice(subjects, n_test_subjects, replace=False)
    for name, faceset, classes in (("ckplus_emotion", ck, None), ("ckplus_au", ck_au, au.class_names)):
        task = Task.from_faceset(faceset, name, classes=classes)
        held_out = np.isin(faceset.subjects, test_subjects)
        tasks[name] = (task.subset(~held_out), task.subset(held_out))
    return tasks


def task_sizes(tasks):
    """Images per task and part, as a DataFrame (the chapter's data table)."""
    rows = [{"task": name, "labels": f"{len(train.class_names)} {'AUs' if train.kind == 'multilabel' else 'classes'}",
             "train": len(train), "test": 0 if test is None else len(test)} for name, (train, test) in tasks.items()]
    return pd.DataFrame(rows).set_index("task")


@dataclass(frozen=True)
class Setup:
    """One trained configuration: a row of a table (``table``, ``method``), the tasks it trains on
    and tests on (keys of :func:`load_chapter_tasks`), its nets, and optionally its number of
    seeds (the first ``n_seeds`` of the run's seeds; default all)."""

    table: str
    method: str
    train: tuple
    test: tuple
    nets: tuple
    n_seeds: int | None = None

    @property
    def name(self):
        """The training tasks joined by ``+`` (``"sfew+emotionet"``)."""
        return "+".join(self.train)


def chapter_setups(nets, compound_nets=None, ckplus_seeds=None):
    """The setups of the paper's Tables 1, 2 and 4.

    Table 1 trains every net of ``nets``; Table 2 its ResNets (VGG-16 is only a single-task
    baseline in the paper); Table 4 ``compound_nets`` (the paper: ResNet-110 only; default the
    first net). ``ckplus_seeds``: seeds of the CK+ rows of Table 1, which only set
    hyper-parameters in the paper (default all).
    """
    nets = tuple(nets)
    resnets = tuple(n for n in nets if n.startswith("resnet"))
    compound_nets = tuple(compound_nets) if compound_nets else nets[:1]
    setups = [
        Setup("table1", "single", ("sfew",), ("sfew",), nets),
        Setup("table1", "single", ("ckplus_emotion",), ("ckplus_emotion",), nets, ckplus_seeds),
        Setup("table1", "single", ("emotionet",), ("emotionet",), nets),
        Setup("table1", "single", ("ckplus_au",), ("ckplus_au",), nets, ckplus_seeds),
    ]
    if resnets:
        setups += [Setup("table2", "multitask", ("sfew", "emotionet"), ("sfew", "emotionet"), resnets),
                   Setup("table2", "sjmt", ("sfew", "emotionet"), ("sfew", "emotionet"), resnets)]
    return tuple(setups + [
        Setup("table4", "single", ("compound",), ("compound",), compound_nets),
        Setup("table4", "sjmt", ("compound", "emotionet_for_compound"), ("compound",), compound_nets)])


def run_setups(setups, tasks, seeds, params, pretrained=None, store=None):
    """Train every setup × net × seed and score it on its test tasks.

    ``params`` are :class:`MultiTaskNet` parameters shared by all runs; ``pretrained`` maps a
    net name to the trunk ``state_dict`` it starts from. Each setup's (net, seed) units run
    through :func:`fercore.seeds.run_over_seeds` as experiment ``sjmt.<table>.<method>``,
    stored in ``store``. Returns ``(scores, models)``: a DataFrame with one row per run and test
    task (train, net, seed, table, method, dataset, accuracy, seconds) and the fitted nets keyed
    by ``(table, method, train, net, seed)``, ``train`` being :attr:`Setup.name`.
    """
    pretrained = pretrained or {}
    tables, models = [], {}
    for setup in setups:
        def one(seed, train, net, setup=setup):
            model = MultiTaskNet(method=setup.method, net=net, seed=seed, init_from=pretrained.get(net), **params)
            start = time.perf_counter()
            model.fit([tasks[k][0] for k in setup.train])
            seconds = time.perf_counter() - start
            rows = [{"table": setup.table, "method": setup.method, "dataset": key,
                     "accuracy": model.score(tasks[key][1]), "seconds": seconds} for key in setup.test]
            return Kept(rows, model)

        table, kept = run_over_seeds(one, list(seeds)[:setup.n_seeds], grid(train=[setup.name], net=setup.nets),
                                     experiment=f"sjmt.{setup.table}.{setup.method}", store=store, keep=True)
        tables.append(table)
        models.update({(setup.table, setup.method, setup.name, u.params["net"], u.seed): m for u, m in kept.items()})
    return pd.concat(tables, ignore_index=True), models


def fitted(models, table, method, net):
    """The nets of one table row (over seeds, in seed order) from :func:`run_setups`' models;
    the row must have a single training-task combination."""
    keys = sorted(k for k in models if k[0] == table and k[1] == method and k[3] == net)
    if not keys:
        raise ValueError(f"no nets for {table}, {method}, {net}")
    if len({k[2] for k in keys}) > 1:
        raise ValueError(f"{table}, {method}, {net} was trained on several task sets: {sorted({k[2] for k in keys})}")
    return [models[k] for k in keys]


def summarize(scores):
    """Mean, sd and number ``n`` of seeds of the accuracy per (table, method, net, dataset)."""
    by = ["table", "method", "net", "dataset"]
    return summarize_seeds(scores, by, "accuracy").set_index(by)


def nan_mean(values, axis=None):
    """``np.nanmean`` without the warning for all-NaN slices (they stay NaN): classes absent
    from a small test set."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def task_loss_change(model, task, fraction=0.1):
    """Mean training loss of a ``single`` or ``multitask`` net on ``task``'s batches over the
    first and the last ``fraction`` of them, ``(start, end)``: whether that head learnt. A
    multi-task net's batches alternate over its tasks in :meth:`MultiTaskNet.fit` order."""
    if model.method == "sjmt":
        raise ValueError("an SJMT net's loss mixes its tasks in every batch; pick a single or multitask net")
    names = list(model.tasks_)
    if task not in names:
        raise ValueError(f"no task {task!r}; this net was trained on {names}")
    history = model.history_
    losses = history.loc[history["step"] % len(names) == names.index(task), "loss"].to_numpy()
    n = max(1, round(len(losses) * fraction))
    return float(losses[:n].mean()), float(losses[-n:].mean())


def per_class_recalls(nets, task):
    """Per-class accuracy (recall, the paper's Table 4) of each fitted net on a single-label test
    ``task``: an array ``(len(nets), n_classes)``, NaN for a class absent from the test set."""
    return np.array([per_class_recall(task.labels, net.predict(task.images, task.name), len(task.class_names))
                     for net in nets])


def sample_per_class(labels, per_class, seed=0, min_left=0):
    """Indices of ``per_class`` random images of each class, leaving at least ``min_left``
    images of every class unpicked (for testing)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    picks = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        picks.append(members[:max(0, min(per_class, len(members) - min_left))])
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)


def au_profiles_by_predicted_emotion(model, emotion_task, au_task="emotionet", emotion_head=None):
    """The paper's Figure 2 on emotion-only faces, and its check against the generator.

    Groups the faces of ``emotion_task`` (e.g. SFEW Val, which has no AU labels) by the emotion
    ``model`` predicts and averages the AU probabilities it predicts for them. Returns
    ``(predicted, true, r)``: the predicted profile (emotions × AUs), the profile of the
    generator's true AU presence (intensity ≥ the data world's presence threshold) of the same
    groups — None without a truth sidecar — and the per-emotion Pearson correlation of the two.
    """
    from fercore.synth.writers import AU_PRESENT

    emotion_head = emotion_head or emotion_task.name
    names = model.tasks_[emotion_head][1]
    au_names = model.tasks_[au_task][1]
    predicted_emotion = model.predict(emotion_task.images, emotion_head)
    scores = model.predict_proba(emotion_task.images, au_task)
    predicted = au_profile(predicted_emotion, scores, names, au_names)
    if emotion_task.truth is None:
        return predicted, None, None
    present = (truth_au_matrix(emotion_task.truth, au_names) >= AU_PRESENT).astype(float)
    true = au_profile(predicted_emotion, present, names, au_names)
    return predicted, true, profile_correlation(predicted, true)


def render_au_faces(au_sets, size=100, intensity=1.0, seed=0):
    """One face per entry of ``au_sets`` (lists of AU names like ``"AU12"``) with those AUs at
    ``intensity`` and the others at rest, all of one identity, frontal, under lab light (the
    py-feat AU-to-mesh renderer of the data world). Returns uint8 ``(len(au_sets), size, size)``."""
    from fercore.synth import render_faces, sample_identities, sample_nuisance

    rng = np.random.default_rng(seed)
    aus = np.zeros((len(au_sets), len(AUS)), np.float32)
    for i, names in enumerate(au_sets):
        for name in names:
            number = int(str(name).upper().removeprefix("AU"))
            if number not in AUS:
                raise ValueError(f"{name!r} is not one of the renderer's AUs {AUS}")
            aus[i, AUS.index(number)] = intensity
    identity = sample_identities(1, rng)[np.zeros(len(au_sets), int)]
    nuisance = sample_nuisance("lab", 1, rng)[np.zeros(len(au_sets), int)]
    zero = np.zeros(len(au_sets), np.float32)
    nuisance = replace(nuisance, yaw=zero, pitch=zero, roll=zero, occluder=np.zeros(len(au_sets), np.int8),
                              noise=zero + 0.5, blur=zero + 0.4)
    return render_faces(aus, identity, nuisance, size=size, seed=seed).aligned


# ------------------------------------------------------------------ the paper's numbers and our records

PAPER_ACCURACY = paper_values("sjmt.")
"""Pons & Masip's Tables 1, 2 and 4 (fractions, from ``paper_numbers.csv``) under the results
keys of our analogs."""


def _paper_compound():
    """Pons & Masip's Table 4 from ``paper_numbers.csv``, one row per compound class."""
    table = paper_table("sjmt", "Table 4").assign(row=lambda t: t["row"].str.lower())
    table = table[table["row"].isin(PAPER_COMPOUNDS)].pivot(index="row", columns="column", values="result_value")
    return pd.DataFrame({"images": table["images"].astype(int), "single": table["single"],
                         "sjmt": table["SJMT"]}).reindex(list(PAPER_COMPOUNDS))


PAPER_COMPOUND = _paper_compound()
"""Pons & Masip's Table 4: images per compound class and per-class accuracy of ResNet-110 (fractions)."""

PAPER_TOP_AUS = {"anger": ("AU4", "AU9", "AU25"), "disgust": ("AU1", "AU4", "AU6"), "fear": ("AU5", "AU25"),
                 "happiness": ("AU6", "AU12", "AU25"), "sadness": ("AU12", "AU17"),
                 "surprise": ("AU2", "AU25", "AU26")}
"""Pons & Masip's Table 3: the AUs their SJMT net predicts for SFEW faces of each emotion."""

DATASET_COLUMNS = {"sfew": "SFEW (emotion)", "ckplus_emotion": "CK+ (emotion)", "emotionet": "EmotioNet (AUs)",
                   "ckplus_au": "CK+ (AUs)", "compound": "EmotioNet compound"}


def result_key(dataset, method, net):
    """``sjmt.<dataset>.<method>.<net>.accuracy``."""
    return f"sjmt.{dataset}.{method}.{net}.accuracy"


def record_summary(summary):
    """Record a :func:`summarize` table under :func:`result_key` (mean, ``.sd``, ``.n_seeds``)."""
    return record_seed_summary(summary.reset_index(), lambda r: result_key(r["dataset"], r["method"], r["net"]))


def comparison_table(summary, tables, datasets=None, percent=True):
    """Our accuracy (mean ± sd over seeds) beside the paper's, rows (method, net), two columns
    (ours, paper) per dataset; ``tables`` one table name or several, ``datasets`` to keep."""
    tables = [tables] if isinstance(tables, str) else list(tables)
    rows = {}
    for (_, method, net, dataset), r in summary.loc[tables].iterrows():
        if datasets is not None and dataset not in datasets:
            continue
        paper = PAPER_ACCURACY.get(result_key(dataset, method, net))
        scale = 100 if percent else 1
        ours = mean_sd_text(r["mean"], r["sd"], r["n"], 1, scale)
        column = DATASET_COLUMNS.get(dataset, dataset)
        rows.setdefault((method, net), {})[f"{column}: ours"] = ours
        rows[(method, net)][f"{column}: paper"] = "–" if paper is None else f"{paper * scale:.1f}"
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.names = ["method", "net"]
    return frame


def au_truth_correlations(models, emotion_task, au_task="emotionet"):
    """How well the AUs each net predicts for emotion-only faces match the generator's.

    For each fitted net, :func:`au_profiles_by_predicted_emotion`; then per predicted emotion
    the Pearson r of the predicted and the true profile, raw and *centered* (each AU's mean
    over the emotions removed from both profiles first, so a net that predicts only the AUs'
    overall frequencies scores 0). Returns a DataFrame (emotion × seed-averaged ``r``,
    ``r_centered``, ``images``) and the per-net mean ``r`` and ``r_centered``.
    """
    per_emotion, per_net = [], []
    for net in models:
        predicted, true, r = au_profiles_by_predicted_emotion(net, emotion_task, au_task)
        if true is None:
            raise ValueError(f"{emotion_task.name}: no ground-truth AUs to compare with (not a synthetic copy)")
        centered = profile_correlation(predicted - predicted.mean(), true - true.mean())
        groups = net.predict(emotion_task.images, emotion_task.name)
        names = net.tasks_[emotion_task.name][1]
        counts = pd.Series(np.bincount(groups, minlength=len(names)), index=list(names))
        per_emotion.append(pd.DataFrame({"r": r, "r_centered": centered, "images": counts[r.index]}))
        per_net.append({"r": r.mean(), "r_centered": centered.mean()})
    table = pd.concat(per_emotion).groupby(level=0, sort=False).mean()
    return table, pd.DataFrame(per_net)


def compound_table(recalls, train_task, test_task, percent=True):
    """The paper's Table 4 beside ours: training and test images per class, our per-class
    accuracy per method (mean over seeds of ``recalls[method]``, from :func:`per_class_recalls`),
    the paper's; then the mean over classes and the accuracy over all test images."""
    scale = 100 if percent else 1
    names = list(test_task.class_names)
    frame = pd.DataFrame({"train": np.bincount(train_task.labels, minlength=len(names)),
                          "test": np.bincount(test_task.labels, minlength=len(names))}, index=names)
    counts = frame["test"].to_numpy()
    for method, r in recalls.items():
        frame.loc[names, f"ours {method}"] = nan_mean(r, axis=0) * scale
        frame.loc["Mean compounds", f"ours {method}"] = nan_mean(nan_mean(r, axis=1)) * scale
        overall = np.nansum(r * counts, axis=1) / counts.sum()
        frame.loc["All images", f"ours {method}"] = overall.mean() * scale
    paper = PAPER_COMPOUND.reindex(names)
    frame.loc[names, "paper images"] = paper["images"]
    for method in ("single", "sjmt"):
        frame.loc[names, f"paper {method}"] = paper[method] * scale
        frame.loc["Mean compounds", f"paper {method}"] = PAPER_ACCURACY[f"sjmt.compound.{method}.mean"] * scale
        frame.loc["All images", f"paper {method}"] = PAPER_ACCURACY[f"sjmt.compound.{method}.resnet110.accuracy"] * scale
    frame.loc["All images", "paper images"] = paper_cell("sjmt", "Table 4", "All images", "images")
    frame.loc["All images", ["train", "test"]] = [frame.loc[names, "train"].sum(), counts.sum()]
    frame = frame.round(1)
    for column in ("train", "test", "paper images"):
        frame[column] = frame[column].astype("Int64")
    return frame


def plot_method_comparison(scores, dataset, ax=None, title=None):
    """Accuracy on ``dataset`` of every method and net: one dot per seed, a bar at the mean."""
    import matplotlib.pyplot as plt

    part = scores[scores["dataset"] == dataset]
    groups = list(dict.fromkeys(zip(part["method"], part["net"])))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * len(groups) + 2, 3.5))
    for x, (method, net) in enumerate(groups):
        values = part[(part["method"] == method) & (part["net"] == net)]["accuracy"].to_numpy() * 100
        ax.bar(x, values.mean(), color="#c9d6ea", edgecolor="#2f6db5", width=0.6)
        ax.scatter(np.full(len(values), x), values, color="#2f6db5", zorder=3, s=18)
    ax.set_xticks(range(len(groups)), [f"{m}\n{n}" for m, n in groups])
    ax.set_ylabel(f"{DATASET_COLUMNS.get(dataset, dataset)} accuracy (%)")
    ax.set_title(title or DATASET_COLUMNS.get(dataset, dataset))
    return ax


def percent(metrics, key, missing="not run"):
    """``metrics[key]`` (a fraction) as ``"41.3%"``, or ``missing``."""
    return missing if key not in metrics else f"{100 * metrics[key]:.1f}%"
