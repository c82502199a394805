"""Batch streams: endless, seeded, resumable iterators of training batches.

Every stream is an iterator with ``state_dict`` / ``load_state_dict``, so
:class:`fercore.train.Trainer` checkpoints it with the model and a resumed run sees the same
batches as an uninterrupted one.

- :class:`RandomBatches`: rows of equal-length tensors, reshuffled every epoch, optionally
  augmented (a :mod:`fercore.inputs` transform);
- :class:`BalancedBatches`: class-balanced rows, every class filling ``batch_size / K`` of a batch;
- :class:`PairedBatches`: a source batch and a target batch per step (domain adaptation);
- :class:`AlternatingBatches`: round robin over streams, one dataset's batch per step;
- :class:`MixedBatches`: one batch of every stream, concatenated (mixed-dataset batches).
"""

import torch

from fercore.train import _callable_identity, _tensor_digest, host_to_device


class RandomBatches:
    """Endless mini-batches of rows of equal-length tensors, reshuffled every epoch.

    Shuffling and ``transform(batch, generator)`` (data augmentation) draw from one seeded
    ``torch.Generator`` whose state is part of :meth:`state_dict`, so a resumed run sees the
    same batches as an uninterrupted one. Incomplete last batches of an epoch are dropped.
    """

    def __init__(self, *tensors, batch_size, seed=0, transform=None):
        if not tensors:
            raise ValueError("RandomBatches needs at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"tensors differ in length: {[len(t) for t in tensors]}")
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be between 1 and the {n} samples, got {batch_size}")
        self.tensors = tensors
        self.batch_size = batch_size
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n, generator=self.generator)
        self.position = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.order), generator=self.generator)
            self.position = 0
        index = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        batch = tuple(t[host_to_device(index, t.device)] for t in self.tensors)
        if self.transform is not None:
            batch = self.transform(batch, self.generator)
        return batch

    def data_identity(self):
        """What the run's fingerprint records of this stream's data (:func:`fercore.train.run_fingerprint`)."""
        return ("RandomBatches", self.batch_size, [_tensor_digest(t) for t in self.tensors],
                _callable_identity(self.transform) if self.transform is not None else None)

    def state_dict(self):
        return {"generator": self.generator.get_state(), "order": self.order,
                "position": self.position}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])
        self.order = state["order"]
        self.position = state["position"]


class BalancedBatches:
    """Endless class-balanced mini-batches: every class fills ``batch_size / K`` rows of each
    batch — the batch balancing of Fu et al. §IV-B (after Hand et al.'s selective learning).

    Each class is drawn without replacement from its own shuffled order, reshuffled when used
    up, so minority classes are repeated more often than majority classes. Same interface as
    :class:`fercore.batches.RandomBatches` (iterator, ``state_dict``, ``transform``) and resumable.
    """

    def __init__(self, *tensors, labels, batch_size, num_classes=None, seed=0, transform=None):
        if not tensors:
            raise ValueError("BalancedBatches needs at least one tensor")
        labels = torch.as_tensor(labels, dtype=torch.int64).cpu()
        if any(len(t) != len(labels) for t in tensors):
            raise ValueError(f"tensors differ in length from the {len(labels)} labels: "
                             f"{[len(t) for t in tensors]}")
        num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
        if batch_size < num_classes or batch_size % num_classes:
            raise ValueError(f"batch_size must be a multiple of the {num_classes} classes, "
                             f"got {batch_size}")
        self.members = [torch.nonzero(labels == k).flatten() for k in range(num_classes)]
        empty = [k for k, m in enumerate(self.members) if len(m) == 0]
        if empty:
            raise ValueError(f"classes {empty} have no samples; batch balancing needs every class")
        self.tensors = tensors
        self.batch_size = batch_size
        self.transform = transform
        self.per_class = batch_size // num_classes
        self.generator = torch.Generator().manual_seed(seed)
        self.orders = [m[torch.randperm(len(m), generator=self.generator)] for m in self.members]
        self.positions = [0] * num_classes

    def __iter__(self):
        return self

    def _take(self, k):
        picked = []
        while len(picked) < self.per_class:
            if self.positions[k] == len(self.orders[k]):
                m = self.members[k]
                self.orders[k] = m[torch.randperm(len(m), generator=self.generator)]
                self.positions[k] = 0
            stop = min(len(self.orders[k]), self.positions[k] + self.per_class - len(picked))
            picked.extend(self.orders[k][self.positions[k]:stop].tolist())
            self.positions[k] = stop
        return picked

    def __next__(self):
        index = torch.tensor([i for k in range(len(self.members)) for i in self._take(k)])
        index = index[torch.randperm(len(index), generator=self.generator)]
        batch = tuple(t[index.to(t.device)] for t in self.tensors)
        return batch if self.transform is None else self.transform(batch, self.generator)

    def state_dict(self):
        return {"generator": self.generator.get_state(), "orders": list(self.orders),
                "positions": list(self.positions)}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])
        self.orders = list(state["orders"])
        self.positions = list(state["positions"])


class PairedBatches:
    """Endless ``(source_batch, target_batch)`` pairs from two :class:`fercore.batches.RandomBatches`.

    Each stream keeps its own seeded generator; both are saved in :meth:`state_dict`, so a
    resumed run sees the same pairs. With ``target=None`` the target batch is ``None``.
    """

    def __init__(self, source, target=None):
        self.source = source
        self.target = target

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.source), None if self.target is None else next(self.target)

    def state_dict(self):
        return {"source": self.source.state_dict(),
                "target": None if self.target is None else self.target.state_dict()}

    def load_state_dict(self, state):
        self.source.load_state_dict(state["source"])
        if self.target is not None:
            self.target.load_state_dict(state["target"])


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
