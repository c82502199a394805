"""Training speed of Fu et al.'s networks: images per second of one engine step.

Four steps, each through ``fercore.train`` as the chapter runs them: the asymmetric autoencoder's
pre-training (Eq. 4, batch 256), its refinement against the WGAN critic (Eq. 5–8, batch 64), and
the two-branch network at batch 63 without the method and with it (BT: neighbour synthesis
plus two evaluation passes per step, Algorithm 1). On the CPU (channels_last; bf16 autocast with
``--cpu-precision bf16``), and on CUDA when present (bf16 autocast, channels_last).

    python tests/benchmarks/bench_semantic.py                          # paper scale: 112 px, width 1
    python tests/benchmarks/bench_semantic.py --input-size 40 --width 0.25 --ae-width 0.5 --ae-batch 64 \
        --cpu-precision auto                                           # the `default` profile
    python tests/benchmarks/bench_semantic.py --device cuda --iters 50
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fercore.batches import RandomBatches  # noqa: E402
from fercore.losses.objectives import (  # noqa: E402
    AutoencoderObjective,
    NeighbourhoodAwareObjective,
    RefinementObjective,
)
from fercore.losses.semantic import FocalLoss, PerceptualReconstructionLoss  # noqa: E402
from fercore.nets.autoencoder import AsymmetricAutoencoder, Critic  # noqa: E402
from fercore.nets.twobranch import TwoBranchNet  # noqa: E402
from fercore.semantic import AdversarialPair, AdversarialTrainer, NeighbourGenerator  # noqa: E402
from fercore.train import CPU_PRECISIONS, Schedule, Trainer, to_device, use_cpu_precision  # noqa: E402


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(trainer, batches, iters, warmup, batch_size):
    """Images per second of ``iters`` engine steps after ``warmup`` untimed ones."""
    trainer.model.train()
    trainer.loss_fn.train()
    for _ in range(warmup):
        trainer.update(to_device(next(batches), trainer.device, trainer.channels_last))
        trainer.step += 1
    synchronize(trainer.device)
    start = time.perf_counter()
    for _ in range(iters):
        terms = trainer.update(to_device(next(batches), trainer.device, trainer.channels_last))
        trainer.step += 1
    synchronize(trainer.device)
    if not torch.isfinite(terms["loss"]):
        raise FloatingPointError("the benchmark's loss is not finite")
    return iters * batch_size / (time.perf_counter() - start)


def run(device, args):
    size, steps = args.input_size, args.iters + args.warmup
    rng = np.random.default_rng(0)
    n = 512
    images = torch.as_tensor(rng.integers(0, 256, (n, 1, size, size), dtype=np.uint8))
    labels = torch.as_tensor(rng.integers(0, 7, n))
    index = torch.arange(n)
    torch.manual_seed(0)
    autoencoder = AsymmetricAutoencoder(size, args.ae_width)
    fer_net = TwoBranchNet(7, size, args.width)
    results = {}

    trainer = Trainer(autoencoder, AutoencoderObjective(), Schedule(steps, lr=1e-3), device=device)
    batches = RandomBatches(images.to(trainer.device), batch_size=args.ae_batch)
    results["autoencoder pre-training"] = timed(trainer, batches, args.iters, args.warmup, args.ae_batch)

    pair = AdversarialPair(autoencoder, Critic(size, args.ae_width))
    objective = RefinementObjective(PerceptualReconstructionLoss(TwoBranchNet(7, size, args.width)))
    trainer = AdversarialTrainer(pair, objective, steps, critic_warmup=1, device=device)
    batches = RandomBatches(images.to(trainer.device), batch_size=64)
    results["autoencoder refinement"] = timed(trainer, batches, args.iters, args.warmup, 64)

    neighbours = NeighbourGenerator(autoencoder, 0.5)
    for name, threshold in (("two-branch, without", None), ("two-branch, with BT", "batch")):
        objective = NeighbourhoodAwareObjective(FocalLoss(2.0, reduction="none"),
                                                None if threshold is None else neighbours, threshold)
        trainer = Trainer(fer_net, objective, Schedule(steps), device=device)
        batches = RandomBatches(images.to(trainer.device), labels.to(trainer.device),
                                index.to(trainer.device), batch_size=63)
        results[name] = timed(trainer, batches, args.iters, args.warmup, 63)
    return trainer.device, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", help="cpu, cuda, or all (cpu and cuda if present)")
    parser.add_argument("--iters", type=int, default=None, help="timed steps (default 3 on CPU, 50 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 1 on CPU, 10 on CUDA)")
    parser.add_argument("--input-size", type=int, default=112)
    parser.add_argument("--width", type=float, default=1.0, help="two-branch channel multiplier")
    parser.add_argument("--ae-width", type=float, default=1.0, help="autoencoder channel multiplier")
    parser.add_argument("--ae-batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--cpu-precision", choices=CPU_PRECISIONS, default="fp32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = use_cpu_precision(args.cpu_precision)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d != "cuda" or torch.cuda.is_available()]
    print(f"input {args.input_size}×{args.input_size}, two-branch width {args.width}, "
          f"autoencoder width {args.ae_width}")
    for name in devices:
        on_cuda = name == "cuda"
        run_args = argparse.Namespace(**vars(args))
        run_args.iters = args.iters or (50 if on_cuda else 3)
        run_args.warmup = args.warmup if args.warmup is not None else (10 if on_cuda else 1)
        device, results = run(name, run_args)
        label = torch.cuda.get_device_name(device) if on_cuda else f"CPU, {torch.get_num_threads()} threads, {precision}"
        for step, rate in results.items():
            print(f"{label:>28} | {step:<26} | {rate:9.1f} img/s")


if __name__ == "__main__":
    main()
