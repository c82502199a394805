"""Training speed of each deep chapter's net at its `default` size, on the CPU: the engine
(``fercore.train.Trainer`` + ``RandomBatches`` + the recipe's batch crop + flip) against a plain
PyTorch loop on the same net and pre-cut inputs (the engine's overhead), thread counts,
``channels_last``, bf16 autocast (``cpu_precision: bf16``), the old per-batch crop, and seeds
stacked into one model (``fercore.batched``) against the same seeds one after the other.

    nice -n 5 python tests/benchmarks/bench_recipe.py                 # every chapter's net
    nice -n 5 python tests/benchmarks/bench_recipe.py --chapter dlp_dbm --steps 30

Prints images/s per configuration and the 1-minute load average next to each figure (the
machine may be shared: compare figures taken at similar loads).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fercore.batched import StackedBatches, StackedModels, StackedObjective  # noqa: E402
from fercore.batches import RandomBatches  # noqa: E402
from fercore.losses.objectives import FeatureObjective  # noqa: E402
from fercore.inputs import CropFlip, RandomCrop  # noqa: E402
from fercore.nets import BaseDCNN  # noqa: E402
from fercore.nets.resnet_cifar import ResNetCIFAR  # noqa: E402
from fercore.nets.twobranch import TwoBranchNet  # noqa: E402
from fercore.recipe import recipe_schedule  # noqa: E402
from fercore.train import Trainer  # noqa: E402


CHAPTERS = {  # the `default` profile's net of each deep chapter: factory, input side, batch
    "dlp_dbm": (lambda: BaseDCNN(7, width=0.125, input_size=40), 40, 64),
    "domain_adaptation": (lambda: BaseDCNN(7, width=0.125, input_size=32), 32, 32),
    "sjmt": (lambda: ResNetCIFAR(32, num_classes=7, in_channels=1, width=0.5), 32, 32),
    "semantic_ae": (lambda: TwoBranchNet(7, input_size=40, width=0.25), 40, 42),
}


def load():
    return f"{os.getloadavg()[0]:.1f}"


def logits_of(out):
    return out[0] if isinstance(out, tuple) else out


def cross_entropy(model, batch):
    images, labels = batch
    return {"loss": F.cross_entropy(logits_of(model(images)), labels)}


def faces(n, side):
    g = torch.Generator().manual_seed(0)
    full = round(side / 0.9)
    return (torch.randint(0, 256, (n, 1, full, full), generator=g, dtype=torch.uint8),
            torch.randint(0, 7, (n,), generator=g))


def timed(step, steps, warmup, images_per_step):
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * images_per_step / (time.perf_counter() - start)


def engine(make, side, batch, steps, warmup, transform, channels_last=False, amp=False, loss=cross_entropy):
    torch.manual_seed(0)
    model = make()
    trainer = Trainer(model, loss, recipe_schedule(steps + warmup, 0.01), device="cpu",
                      channels_last=channels_last, amp=amp)
    images, labels = faces(max(512, 4 * batch), side)
    batches = RandomBatches(images, labels, batch_size=batch, transform=transform)
    torch.use_deterministic_algorithms(True)  # as Trainer.fit does on the CPU
    try:
        return timed(lambda: trainer.update(next(batches)), steps, warmup, batch)
    finally:
        torch.use_deterministic_algorithms(False)


def plain(make, side, batch, steps, warmup):
    """The same net and loss in a bare loop on inputs cut in advance: the floor."""
    torch.manual_seed(0)
    model = make().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(8, batch, 1, side, side)
    y = torch.randint(0, 7, (8, batch))
    state = {"i": 0}

    def step():
        i = state["i"] = (state["i"] + 1) % 8
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(logits_of(model(x[i])), y[i]).backward()
        optimizer.step()

    return timed(step, steps, warmup, batch)


def stacked(make, side, batch, steps, warmup, members, objective):
    torch.manual_seed(0)
    models = [make() for _ in range(members)]
    model = StackedModels(models)
    trainer = Trainer(model, StackedObjective(objective), recipe_schedule(steps + warmup, 0.01),
                      device="cpu", param_groups=model.parameter_groups(models[0].parameter_groups()))
    images, labels = faces(max(512, 4 * batch), side)
    batches = StackedBatches([RandomBatches(images, labels, batch_size=batch, seed=s,
                                            transform=CropFlip(side)) for s in range(members)])
    torch.use_deterministic_algorithms(True)
    try:
        return timed(lambda: trainer.update(next(batches)), steps, warmup, batch * members)
    finally:
        torch.use_deterministic_algorithms(False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapter", choices=list(CHAPTERS), action="append")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--members", type=int, default=3, help="seeds stacked into one model")
    parser.add_argument("--threads", type=int, action="append",
                        help="torch thread counts to measure (default: 1 and torch's default)")
    args = parser.parse_args(argv)
    thread_counts = args.threads or sorted({1, torch.get_num_threads()})
    for chapter in args.chapter or list(CHAPTERS):
        make, side, batch = CHAPTERS[chapter]
        run = dict(steps=args.steps, warmup=args.warmup)
        rows = [("plain PyTorch loop", lambda: plain(make, side, batch, **run)),
                ("engine, old crop", lambda: engine(make, side, batch, transform=RandomCrop(side), **run)),
                ("engine, crop + flip", lambda: engine(make, side, batch, transform=CropFlip(side), **run)),
                ("engine, crop + flip, channels_last",
                 lambda: engine(make, side, batch, transform=CropFlip(side), channels_last=True, **run)),
                ("engine, crop + flip, channels_last, bf16 autocast",
                 lambda: engine(make, side, batch, transform=CropFlip(side), channels_last=True, amp=True, **run))]
        if isinstance(make(), BaseDCNN):
            objective = FeatureObjective("dlp", 7, 2000)
            rows.append(("engine, DLP loss, one seed",
                         lambda: engine(make, side, batch, transform=CropFlip(side), loss=objective, **run)))
            rows.append((f"stacked, DLP loss, {args.members} seeds in one model",
                         lambda: stacked(make, side, batch, members=args.members, objective=objective, **run)))
        print(f"{chapter}: input {side}, batch {batch}")
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for name, fn in rows:
                before = load()
                rate = fn()
                print(f"  {threads} thread(s)  {name:<48} {rate:8.1f} img/s   (load {before} → {load()})",
                      flush=True)


if __name__ == "__main__":
    main()
