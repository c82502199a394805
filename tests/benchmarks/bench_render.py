"""Print the face generator's speed: aligned images per second at 100, 112 and 48 pixels.

Colour runs (``colour``: the RGB images of RAF-DB, AffectNet, SFEW, EmotioNet) show what colour
costs against the grey run of the same setting.

Issue target: at least 300 aligned 100×100 images/s on a 2-core CPU (goal 1,000). For each
setting it prints the single-thread speed in images per CPU-second (what one idle core
delivers, a figure that holds on a busy machine too) and the wall-clock speed with ``--workers``
threads (default: ``$FERCORE_WORKERS`` or every core), with the machine's load average, since
wall-clock figures on a shared machine depend on it. AUs, identities and nuisance are sampled
outside the timed region, in the wild domain unless stated (the most expensive: occluders,
JPEG), with each identity seen three times, as in the data world.

    python tests/benchmarks/bench_render.py [n_images] [--workers N] [--single-only]
"""

import argparse
import os
import time

import numpy as np

from fercore.synth import render_faces, sample_aus, sample_identities, sample_nuisance
from fercore.synth.parallel import n_workers
from fercore.synth.writers import world_nuisance


def faces(n: int, domain: str, raw: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    identities = sample_identities(max(2, n // 3), rng)
    who = rng.integers(0, len(identities), n)
    aus = sample_aus(np.eye(8)[rng.integers(0, 8, n)], domain, rng, identities.au_gain[who])
    nuisance = world_nuisance(domain, n, rng) if raw else sample_nuisance(domain, n, rng)
    return aus, identities[who], nuisance


def images_per_second(n: int, size: int, domain: str, raw: bool, workers: int, color: bool = False):
    """(wall-clock images/s, images per CPU-second) of one ``render_faces`` call."""
    aus, identities, nuisance = faces(n, domain, raw)
    render_faces(aus[:8], identities[:8], nuisance[:8], size=size, raw=raw, color=color)   # compile, warm
    wall, cpu = time.perf_counter(), time.process_time()
    render_faces(aus, identities, nuisance, size=size, raw=raw, workers=workers, color=color)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_images", nargs="?", type=int, default=512)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--single-only", action="store_true", help="skip the multi-worker runs")
    args = parser.parse_args()
    workers = n_workers(args.workers)
    runs = [(100, "wild", False, False), (100, "wild", False, True), (100, "lab", False, False),
            (112, "wild", False, False), (48, "wild", False, False), (100, "wild", True, False),
            (100, "wild", True, True)]
    print(f"{os.cpu_count()} cores, load average {load_average()} (1, 5, 15 min)")
    for size, domain, raw, color in runs:
        n = args.n_images // 4 if raw else args.n_images
        label = f"size {size:3d} {domain:4s}" + (" raw=True" if raw else "") + (" colour" if color else "")
        _, cpu = images_per_second(n, size, domain, raw, workers=1, color=color)
        line = f"{label:29s}: 1 thread {cpu:6.0f} images/CPU-second"
        if not args.single_only and workers > 1:
            wall, _ = images_per_second(n, size, domain, raw, workers=workers, color=color)
            line += f"; {workers} threads {wall:6.0f} images/s wall-clock (load {load_average()})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
