"""Training speed of baseDCNN (RAF-DB Table 2): images per second at batch 64.

Runs the engine's own step (``fercore.train.Trainer.update`` with the DLP-CNN or softmax
objective, random 90×90 crops from 100×100 faces by ``fercore.batches.RandomBatches``) on the
CPU and, when CUDA is available, on the GPU with bf16 autocast and channels_last.

    python tests/benchmarks/bench_basedcnn.py                       # CPU, and CUDA if present
    python tests/benchmarks/bench_basedcnn.py --device cuda --iters 500
    python tests/benchmarks/bench_basedcnn.py --device cpu --width 0.5 --input-size 64

Targets: about 29 img/s at full width on the 2-core CPU (field notes); ≥ 10,000 img/s on an H100.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fercore.batches import RandomBatches  # noqa: E402
from fercore.inputs import RandomCrop, crop_source  # noqa: E402
from fercore.losses.objectives import FeatureObjective  # noqa: E402
from fercore.nets import BaseDCNN  # noqa: E402
from fercore.train import Schedule, Trainer, to_device  # noqa: E402


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(device, *, iters, warmup, batch_size, width, input_size, objective,
                      channels_last, amp, compile_model):
    """Train ``warmup`` steps, then time ``iters`` steps; returns images per second."""
    rng = np.random.default_rng(0)
    n = max(4 * batch_size, 512)
    faces = rng.integers(0, 256, (n, 100, 100), dtype=np.uint8)
    labels = torch.as_tensor(rng.integers(0, 7, n))
    torch.manual_seed(0)
    model = BaseDCNN(7, width=width, input_size=input_size)
    trainer = Trainer(model, FeatureObjective(objective, 7, 2000), Schedule(iters + warmup),
                      param_groups=model.parameter_groups(), device=device, amp=amp,
                      channels_last=channels_last)
    if compile_model:
        trainer.model = torch.compile(trainer.model)
    trainer.model.train()
    batches = RandomBatches(crop_source(faces, input_size).to(trainer.device),
                            labels.to(trainer.device), batch_size=batch_size,
                            transform=RandomCrop(input_size))
    for _ in range(warmup):
        trainer.update(to_device(next(batches), trainer.device, trainer.channels_last))
    synchronize(trainer.device)
    start = time.perf_counter()
    for _ in range(iters):
        terms = trainer.update(to_device(next(batches), trainer.device, trainer.channels_last))
    synchronize(trainer.device)
    seconds = time.perf_counter() - start
    if not torch.isfinite(terms["loss"]):
        raise FloatingPointError("the benchmark's loss is not finite")
    return iters * batch_size / seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    parser.add_argument("--iters", type=int, default=None,
                        help="timed steps (default 5 on the CPU, 300 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--input-size", type=int, default=90)
    parser.add_argument("--objective", choices=["softmax", "dlp"], default="dlp")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    parser.add_argument("--no-amp", action="store_true", help="float32 on CUDA")
    parser.add_argument("--no-channels-last", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device == "cuda":
            parser.error("--device cuda: no CUDA device is available")
        devices.remove("cuda")
    print(f"baseDCNN width {args.width}, input {args.input_size}x{args.input_size}, "
          f"batch {args.batch_size}, objective {args.objective}")
    for name in devices:
        device = torch.device(name)
        cuda = name == "cuda"
        amp = cuda and not args.no_amp
        channels_last = cuda and not args.no_channels_last
        iters = args.iters or (300 if cuda else 5)
        warmup = args.warmup if args.warmup is not None else (30 if cuda else 1)
        rate = images_per_second(device, iters=iters, warmup=warmup, batch_size=args.batch_size,
                                 width=args.width, input_size=args.input_size,
                                 objective=args.objective, channels_last=channels_last, amp=amp,
                                 compile_model=args.compile and cuda)
        where = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
        extras = ", ".join(x for x, on in (("bf16 autocast", amp), ("channels_last", channels_last),
                                           ("torch.compile", args.compile and cuda)) if on)
        print(f"{name:>4}: {rate:10.1f} training images/s  ({where}{', ' + extras if extras else ''};"
              f" {iters} steps)")


if __name__ == "__main__":
    main()
