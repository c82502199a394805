"""The training loop of the deep chapters: SGD with a step schedule, seeded, resumable.

A chapter hands :class:`Trainer` a model, a loss function and a :class:`Schedule`, then calls
:meth:`Trainer.fit` with an endless iterator of batches (usually a :mod:`fercore.batches` stream)::

    def loss_fn(model, batch):
        images, labels = batch
        logits = model(images)
        return {"loss": F.cross_entropy(logits, labels)}

    trainer = Trainer(model, loss_fn, Schedule(iterations=20_000, milestones=(5_000, 18_000)))
    history = trainer.fit(RandomBatches(images, labels, batch_size=64, seed=0))

``loss_fn(model, batch)`` returns a dict of named scalar tensors; ``"loss"`` is minimized and
every entry is logged per step. It may be an ``nn.Module`` (its state, e.g. center-loss
centres, is moved to the device and checkpointed). Two batches per step (source and target
domains) come from :class:`fercore.batches.PairedBatches`; other updates (a critic with its
own optimizer) override :meth:`Trainer.update` and extend :meth:`Trainer.state_dict` /
:meth:`Trainer.load_state_dict`.

On CUDA the loss runs under bf16 autocast, and on the CPU too after ``use_cpu_precision("bf16")``
(a chapter's ``cpu_precision`` parameter); the net runs in the channels-last layout on both. On the
CPU the run is deterministic: the same seed gives the same weights bit for bit, also across an
interruption and :meth:`Trainer.fit` resuming from the checkpoint.
"""

import functools
import hashlib
import inspect
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from fercore.devices import resolve_device
from fercore.progress import progress

CPU_PRECISIONS = ("fp32", "bf16", "auto")
_cpu_precision = "fp32"


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), as torch reports it."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def use_cpu_precision(precision):
    """Train on the CPU in ``precision`` from now on: ``"fp32"``, ``"bf16"`` (the loss under
    bf16 autocast as on CUDA: convolutions and matrix products in bf16; weights, optimizer, losses
    and the softmax in fp32) or ``"auto"``: bf16 where the CPU has it natively
    (:func:`native_bf16`), fp32 elsewhere. Natively, bf16 trains the deep chapters' nets 1.2–1.9×
    faster; emulated (an AVX2 CPU) it trained chapter 05's net 9× slower
    (``tests/benchmarks/bench_recipe.py``). Returns the precision now in use, ``"auto"``
    resolved. A :class:`Trainer` made with ``amp=None`` reads this setting when it is made."""
    global _cpu_precision
    if precision not in CPU_PRECISIONS:
        raise ValueError(f"cpu_precision must be one of {', '.join(CPU_PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        precision = "bf16" if native_bf16() else "fp32"
    _cpu_precision = precision
    return _cpu_precision


def cpu_precision():
    """The CPU training precision :func:`use_cpu_precision` set (``"fp32"`` by default)."""
    return _cpu_precision


@dataclass(frozen=True)
class Schedule:
    """SGD with momentum and a step learning rate: ``lr`` times ``gamma`` per milestone passed.

    Milestones count iterations (optimizer steps), as Caffe's ``multistep`` policy does.
    ``weight_decay`` applies to parameter groups that do not set their own. ``warmup`` steps
    ramp the rate linearly up to ``lr`` first; ``shape="cosine"`` replaces the drops by a cosine
    decay from ``lr`` to 0 over the steps after the warm-up.
    """

    iterations: int
    lr: float = 0.01
    momentum: float = 0.9
    milestones: tuple = ()
    gamma: float = 0.1
    weight_decay: float = 0.0
    warmup: int = 0
    shape: str = "step"

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f"Schedule.iterations must be positive, got {self.iterations}")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"Schedule.milestones must increase, got {self.milestones}")
        if self.shape not in ("step", "cosine"):
            raise ValueError(f"Schedule.shape must be 'step' or 'cosine', got {self.shape!r}")
        if not 0 <= self.warmup < self.iterations:
            raise ValueError(f"Schedule.warmup must be in [0, {self.iterations}), got {self.warmup}")
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))

    def lr_at(self, step):
        """The learning rate used by optimizer step ``step`` (0-based)."""
        ramp = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.shape == "cosine":
            done = max(0, step - self.warmup) / max(1, self.iterations - self.warmup)
            return self.lr * ramp * 0.5 * (1 + math.cos(math.pi * done))
        return self.lr * ramp * self.gamma ** sum(step >= m for m in self.milestones)

    def scaled(self, iterations):
        """The same schedule shortened (or lengthened) to ``iterations``, milestones in proportion."""
        factor = iterations / self.iterations
        return replace(self, iterations=iterations, warmup=round(self.warmup * factor),
                       milestones=tuple(max(1, round(m * factor)) for m in self.milestones))


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
    """Train ``model`` by minimizing ``loss_fn(model, batch)["loss"]`` under ``schedule``, with
    PyTorch's fused SGD kernel (on the CPU too: a baseDCNN step's update 2.6 times faster than the
    per-tensor loop).

    Parameters
    ----------
    model : the network; moved to ``device``.
    loss_fn : callable ``(model, batch) -> dict`` of named scalar tensors with a ``"loss"`` entry.
    schedule : :class:`Schedule`.
    param_groups : SGD parameter groups (e.g. ``BaseDCNN.parameter_groups()``); default all
        parameters of the model with ``schedule.weight_decay``.
    device : ``"auto"``, ``"cpu"``, ``"cuda"``…
    seed : seeds torch's global generator (dropout) at the start of a fresh run.
    amp : bf16 autocast; default on for CUDA, and on the CPU as :func:`use_cpu_precision` says.
    channels_last : NHWC memory layout for the model and 4-D inputs; default on (faster for every
        deep chapter's net, on the CPU too: ``tests/benchmarks/bench_recipe.py``) unless the model
        has weights of rank 5 (:class:`fercore.batched.StackedModels`).
    checkpoint : file to save to every ``checkpoint_every`` steps and at the end; if it exists
        when :meth:`fit` starts, training resumes from it.
    sync_every : steps between reads of the logged values from the device (the NaN check runs
        then too); 1 on the CPU, larger on CUDA to keep the GPU busy.
    desc : label of the progress bar.
    keep : arguments of :func:`fercore.models.save_model` but the net (``chapter``, ``method``,
        ``seed``, ``profile_dir``…): the trained model is kept there after :meth:`fit`, with
        :meth:`fingerprint` unless ``keep`` gives its own ``fingerprint``.
    """

    def __init__(self, model, loss_fn, schedule, *, param_groups=None, device="auto", seed=0,
                 amp=None, channels_last=None, checkpoint=None, checkpoint_every=0,
                 sync_every=None, desc="training", keep=None):
        self.device = resolve_device(device)
        on_cuda = self.device.type == "cuda"
        self.amp = (on_cuda or (self.device.type == "cpu" and _cpu_precision == "bf16")) if amp is None else amp
        if channels_last is None:  # channels-last needs weights of rank ≤ 4; a stacked model's are rank 5
            channels_last = all(p.dim() <= 4 for p in model.parameters())
        self.channels_last = channels_last
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = loss_fn.to(self.device) if isinstance(loss_fn, nn.Module) else loss_fn
        self.schedule = schedule
        groups = model.parameters() if param_groups is None else param_groups
        self.optimizer = torch.optim.SGD(groups, lr=schedule.lr, momentum=schedule.momentum,
                                         weight_decay=schedule.weight_decay, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: schedule.lr_at(step) / schedule.lr if schedule.lr else 1.0)
        self.seed = seed
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.checkpoint_every = checkpoint_every
        self.sync_every = sync_every or (25 if on_cuda else 1)
        self.desc = desc
        self.keep = keep
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

    def fit(self, batches, until=None):
        """Run (or resume) the schedule over ``batches``; returns :meth:`history`.

        ``until``: stop after that many optimizer steps in all (a point on the learning curve);
        the next call continues the same schedule from there.
        """
        stop = self.schedule.iterations if until is None else min(until, self.schedule.iterations)
        if self.step == 0 and self.checkpoint is not None and self.checkpoint.exists():
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
            while self.step < stop:
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
        if self.keep and self.step == self.schedule.iterations:
            from fercore.models import save_model

            save_model(self.model, **{"fingerprint": self.fingerprint(batches), **self.keep})
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

    def fingerprint(self, batches=None) -> dict:
        """What identifies this run, stored in each checkpoint: model, objective, schedule, data, seed."""
        return run_fingerprint(self.model, self.loss_fn, self.schedule, batches, self.seed)

    def save(self, path, batches=None):
        """Write a checkpoint atomically (temporary file, then rename), with :meth:`fingerprint`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            torch.save({**self.state_dict(batches), "fingerprint": self.fingerprint(batches)}, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def load(self, path, batches=None):
        """Restore a checkpoint written by :meth:`save`, with ``weights_only=True`` (a file cannot run
        code). A checkpoint of another run (another model, objective, schedule, data or seed) is
        refused with both fingerprints; an unreadable one is named."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated, empty, not a checkpoint, or a pickle that is not plain data
            raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:300]}); "
                                  "delete it to train from the start") from None
        if not isinstance(state, dict) or "fingerprint" not in state or "step" not in state:
            raise CheckpointError(f"{path}: not a checkpoint of fercore.train.Trainer (no run fingerprint); "
                                  "delete it to train from the start")
        ours = self.fingerprint(batches)
        if state["fingerprint"] != ours:
            differ = sorted(k for k in set(ours) | set(state["fingerprint"]) if state["fingerprint"].get(k) != ours.get(k))
            raise CheckpointError(
                f"{path}: checkpoint of another run (differs in {', '.join(differ)}); refusing to resume.\n"
                f"  checkpoint: {state['fingerprint']}\n  this run:   {ours}\n"
                "Delete the file or give this run its own checkpoint path.")
        try:
            self.load_state_dict(state, batches)
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"{path}: checkpoint does not fit this trainer ({type(e).__name__}: {e})") from None


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: unreadable, or of another run; the message names the file."""


def _digest(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def _callable_identity(fn) -> str:
    """A loss function's or batch transform's identity: an ``nn.Module``'s class and settings, a
    ``functools.partial``'s function and arguments, a callable object's class and settings
    (:class:`fercore.inputs.CropFlip`: crop size, flips), a plain function's name and defaults."""
    if isinstance(fn, nn.Module):
        settings = {k: v for k, v in vars(fn).items() if isinstance(v, (bool, int, float, str, tuple))}
        return f"{type(fn).__module__}.{type(fn).__qualname__}({repr(fn)}, {settings})"
    if not inspect.isroutine(fn) and not isinstance(fn, functools.partial) and hasattr(fn, "__dict__"):
        settings = {k: v for k, v in vars(fn).items() if isinstance(v, (bool, int, float, str, tuple))}
        return f"{type(fn).__module__}.{type(fn).__qualname__}({settings})"
    if isinstance(fn, functools.partial):
        return f"partial({_callable_identity(fn.func)}, {fn.args!r}, {sorted(fn.keywords.items())!r})"
    name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"
    defaults = [v for v in getattr(fn, "__defaults__", None) or () if isinstance(v, (bool, int, float, str))]
    return f"{name}{defaults}"


def _tensor_digest(tensor) -> tuple:
    """Shape, dtype and a hash of up to a million evenly spaced values of a tensor."""
    flat = tensor.detach().reshape(-1)
    step = max(1, flat.numel() // 1_000_000)
    sample = flat[::step].cpu().contiguous()
    if sample.dtype == torch.bfloat16:
        sample = sample.float()
    return tuple(tensor.shape), str(tensor.dtype), hashlib.sha256(sample.numpy().tobytes()).hexdigest()[:16]


def _is_batches(value) -> bool:
    return hasattr(value, "__next__") and hasattr(value, "state_dict")


def _data_identity(batches):
    """The data a batch iterator draws from: its own ``data_identity()`` where it has one
    (:class:`fercore.batches.RandomBatches`: tensors, batch size and augmentation); for a
    combination (:class:`fercore.batches.PairedBatches` and the like) those of the iterators it
    holds."""
    if hasattr(batches, "data_identity"):
        return batches.data_identity()
    if batches is None:
        return None
    parts = []
    for name, value in sorted(vars(batches).items()) if hasattr(batches, "__dict__") else []:
        if _is_batches(value):
            parts.append((name, _data_identity(value)))
        elif isinstance(value, (list, tuple)) and value and all(_is_batches(v) for v in value):
            parts.append((name, [_data_identity(v) for v in value]))
    return (type(batches).__qualname__, parts)


def run_fingerprint(model, loss_fn, schedule, batches=None, seed=0) -> dict:
    """Short hashes of what makes a training run: the model (class, parameter and buffer names and
    shapes), the objective (loss function and its settings), the schedule, the data (tensor shapes
    and a sample of their values, batch size, augmentation) and the seed."""
    shapes = [(name, tuple(t.shape)) for name, t in [*model.named_parameters(), *model.named_buffers()]]
    return {
        "model": f"{type(model).__qualname__}:{_digest(shapes)}",
        "objective": _digest(_callable_identity(loss_fn)),
        "schedule": _digest(sorted(asdict(schedule).items())),
        "data": _digest(_data_identity(batches)),
        "seed": int(seed),
    }
