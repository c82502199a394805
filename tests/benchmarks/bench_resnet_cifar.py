"""Training speed of the SJMT chapter's nets: images/s of SGD steps on grayscale faces.

Prints CPU figures for ResNet-32 and ResNet-110 (and VGG-16 at width 1/4) at 32×32 and 48×48,
and, when CUDA is available, GPU figures at the paper's batch 128 (bf16 autocast, channels-last,
as :class:`fercore.train.Trainer` runs them). Run: ``python tests/benchmarks/bench_resnet_cifar.py``.
"""

import argparse
import time

import torch
from torch.nn import functional as F

from fercore.multitask import MultiHeadNet, build_trunk


def images_per_second(net, size, batch, device, steps, warmup=2, width=1.0):
    torch.manual_seed(0)
    model = MultiHeadNet(build_trunk(net, width), {"joint": 19}).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.rand(batch, 1, size, size, device=device)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, 19, device=device) > 0.5).float()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = F.binary_cross_entropy_with_logits(model(x).float(), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--steps", type=int, default=5, help="timed CPU steps per setting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    print(f"CPU, {args.threads} thread(s), batch 32:")
    for net, width in (("resnet32", 1.0), ("resnet110", 1.0), ("vgg16", 0.25)):
        for size in (32, 48):
            rate = images_per_second(net, size, 32, cpu, args.steps, width=width)
            print(f"  {net:9s} width {width:4.2f} {size}x{size}: {rate:8.1f} img/s")
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        print(f"GPU {torch.cuda.get_device_name()}, batch 128, bf16:")
        for net, width in (("resnet32", 1.0), ("resnet110", 1.0), ("vgg16", 1.0)):
            for size in (48, 100):
                rate = images_per_second(net, size, 128, gpu, 50, warmup=10, width=width)
                print(f"  {net:9s} width {width:4.2f} {size}x{size}: {rate:8.1f} img/s")


if __name__ == "__main__":
    main()
