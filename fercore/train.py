"""The training loop of the deep chapters: SGD with a step schedule, seeded, resumable.

A chapter hands :class:`Trainer` a model, a loss function and a :class:`Schedule`, then calls
:meth:`Trainer.fit` with an endless iterator of batches (usually :class:`RandomBatches`)::

    def loss_fn(model, batch):
        images, labels = batch
        logits = model(images)
        return {"loss": F.cross_entropy(logits, labels)}

    trainer = Trainer(model, loss_fn, Schedule(iterations=20_000, milestones=(5_000, 18_000)))
    history = trainer.fit(RandomBatches(images, labels, batch_size=64, seed=0))

``loss_fn(model, batch)`` returns a dict of named scalar tensors; ``"loss"`` is minimized and
every entry is logged per step. It may be an ``nn.Module`` (its state, e.g. center-loss
centres, is moved to the device and checkpointed). Two batches per step (source and target
domains) come from :class:`fercore.adaptation.PairedBatches`; other updates (a critic with its
own optimizer) override :meth:`Trainer.update` and extend :meth:`Trainer.state_dict` /
:meth:`Trainer.load_state_dict`.

On CUDA the loss runs under bf16 autocast; on the CPU the run is deterministic: the same seed
gives the same weights bit for bit, also across an interruption and :meth:`Trainer.fit` resuming
from the checkpoint.
"""

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from fercore.progress import progress


def resolve_device(device="auto"):
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA device is available")
    return device


@dataclass(frozen=True)
class Schedule:
    """SGD with momentum and a step learning rate: ``lr`` times ``gamma`` per milestone passed.

    Milestones count iterations (optimizer steps), as Caffe's ``multistep`` policy does.
    ``weight_decay`` applies to parameter groups that do not set their own.
    """

    iterations: int
    lr: float = 0.01
    momentum: float = 0.9
    milestones: tuple = ()
    gamma: float = 0.1
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f"Schedule.iterations must be positive, got {self.iterations}")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"Schedule.milestones must increase, got {self.milestones}")
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))

    def lr_at(self, step):
        """The learning rate used by optimizer step ``step`` (0-based)."""
        return self.lr * self.gamma ** sum(step >= m for m in self.milestones)

    def scaled(self, iterations):
        """The same schedule shortened (or lengthened) to ``iterations``, milestones in proportion."""
        factor = iterations / self.iterations
        return replace(self, iterations=iterations,
                       milestones=tuple(max(1, round(m * factor)) for m in self.milestones))


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

    def state_dict(self):
        return {"generator": self.generator.get_state(), "order": self.order,
                "position": self.position}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])
        self.order = state["order"]
        self.position = state["position"]


def host_to_device(tensor, device):
    """Copy a CPU tensor to ``device`` without making the host wait for the GPU (pinned memory)."""
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def to_device(batch, device, channels_last=False):
    """Move the tensors of a (nested) tuple, list or dict to ``device``."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.ndim == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


class Trainer:
    """Train ``model`` by minimizing ``loss_fn(model, batch)["loss"]`` under ``schedule``.

    Parameters
    ----------
    model : the network; moved to ``device``.
    loss_fn : callable ``(model, batch) -> dict`` of named scalar tensors with a ``"loss"`` entry.
    schedule : :class:`Schedule`.
    param_groups : SGD parameter groups (e.g. ``BaseDCNN.parameter_groups()``); default all
        parameters of the model with ``schedule.weight_decay``.
    device : ``"auto"``, ``"cpu"``, ``"cuda"``…
    seed : seeds torch's global generator (dropout) at the start of a fresh run.
    amp : bf16 autocast; default on for CUDA, off on the CPU.
    channels_last : NHWC memory layout for the model and 4-D inputs; default on for CUDA.
    checkpoint : file to save to every ``checkpoint_every`` steps and at the end; if it exists
        when :meth:`fit` starts, training resumes from it.
    sync_every : steps between reads of the logged values from the device (the NaN check runs
        then too); 1 on the CPU, larger on CUDA to keep the GPU busy.
    desc : label of the progress bar.
    """

    def __init__(self, model, loss_fn, schedule, *, param_groups=None, device="auto", seed=0,
                 amp=None, channels_last=None, checkpoint=None, checkpoint_every=0,
                 sync_every=None, desc="training"):
        self.device = resolve_device(device)
        on_cuda = self.device.type == "cuda"
        self.amp = on_cuda if amp is None else amp
        self.channels_last = on_cuda if channels_last is None else channels_last
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = loss_fn.to(self.device) if isinstance(loss_fn, nn.Module) else loss_fn
        self.schedule = schedule
        groups = model.parameters() if param_groups is None else param_groups
        self.optimizer = torch.optim.SGD(groups, lr=schedule.lr, momentum=schedule.momentum,
                                         weight_decay=schedule.weight_decay, fused=on_cuda or None)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(schedule.milestones), gamma=schedule.gamma)
        self.seed = seed
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.checkpoint_every = checkpoint_every
        self.sync_every = sync_every or (25 if on_cuda else 1)
        self.desc = desc
        self.step = 0
        self.log = []

    def update(self, batch):
        """One optimizer step on ``batch``; returns the loss terms (still on the device)."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            terms = self.loss_fn(self.model, batch)
        if "loss" not in terms:
            raise ValueError(f"loss_fn must return a dict with a 'loss' entry, got {list(terms)}")
        terms["loss"].backward()
        self.optimizer.step()
        self.scheduler.step()
        return {name: value.detach().float() for name, value in terms.items()}

    def fit(self, batches):
        """Run (or resume) the schedule over ``batches``; returns :meth:`history`."""
        if self.checkpoint is not None and self.checkpoint.exists():
            self.load(self.checkpoint, batches)
        elif self.step == 0:
            torch.manual_seed(self.seed)
        deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(self.device.type == "cpu" or deterministic)
        self.model.train()
        if isinstance(self.loss_fn, nn.Module):
            self.loss_fn.train()
        pending = []
        bar = progress(total=self.schedule.iterations, initial=self.step, desc=self.desc)
        start = time.perf_counter()
        try:
            while self.step < self.schedule.iterations:
                lr = self.optimizer.param_groups[0]["lr"]
                batch = to_device(next(batches), self.device, self.channels_last)
                pending.append((self.step, lr, self.update(batch)))
                self.step += 1
                bar.update()
                at_checkpoint = (self.checkpoint is not None and self.checkpoint_every
                                 and self.step % self.checkpoint_every == 0)
                if len(pending) >= self.sync_every or at_checkpoint:
                    self._flush(pending, time.perf_counter() - start)
                    pending = []
                    bar.set_postfix(loss=f"{self.log[-1]['loss']:.4g}", refresh=False)
                if at_checkpoint:
                    self.save(self.checkpoint, batches)
            self._flush(pending, time.perf_counter() - start)
            if self.checkpoint is not None:
                self.save(self.checkpoint, batches)
        finally:
            bar.close()
            torch.use_deterministic_algorithms(deterministic)
        self.model.eval()
        return self.history()

    def _flush(self, pending, seconds):
        """Copy the pending steps' terms to the log; stop at the first non-finite loss."""
        if not pending:
            return
        names = list(pending[0][2])
        values = torch.stack([torch.stack([terms[n] for n in names]) for _, _, terms in pending])
        for (step, lr, _), row in zip(pending, values.cpu().tolist()):
            entry = {"step": step, "lr": lr, **dict(zip(names, row))}
            if not math.isfinite(entry["loss"]):
                raise FloatingPointError(
                    f"loss became {entry['loss']} at step {step} (lr {lr:g}); terms: "
                    + ", ".join(f"{n}={v:.4g}" for n, v in entry.items() if n not in ("step", "lr")))
            self.log.append(entry)
        self.log[-1]["seconds"] = seconds

    def history(self):
        """The per-step log as a DataFrame: step, lr, each loss term, and ``seconds`` since
        :meth:`fit` started (on the steps where the log was read from the device)."""
        return pd.DataFrame(self.log)

    def state_dict(self, batches=None):
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "log": self.log,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if isinstance(self.loss_fn, nn.Module):
            state["loss_fn"] = self.loss_fn.state_dict()
        if hasattr(batches, "state_dict"):
            state["batches"] = batches.state_dict()
        return state

    def load_state_dict(self, state, batches=None):
        self.step = state["step"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        if "loss_fn" in state:
            self.loss_fn.load_state_dict(state["loss_fn"])
        if "batches" in state and batches is not None:
            batches.load_state_dict(state["batches"])
        self.log = list(state["log"])

    def save(self, path, batches=None):
        """Write a checkpoint atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(self.state_dict(batches), tmp)
        os.replace(tmp, path)

    def load(self, path, batches=None):
        """Restore a checkpoint written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.load_state_dict(state, batches)
