"""Print the face generator's speed: aligned images per second at 100, 112 and 48 pixels.

Issue target: at least 300 aligned 100×100 images/s on a 2-core CPU (goal 1,000). Run as
``python tests/benchmarks/bench_render.py [n_images]``; AUs, identities and nuisance are
sampled outside the timed region, in the wild domain (the most expensive: occluders, JPEG).
"""

import sys
import time

import numpy as np

from fercore.synth import render_faces, sample_aus, sample_identities, sample_nuisance


def images_per_second(n: int, size: int, domain: str = "wild", raw: bool = False):
    """(wall-clock, CPU-time) images per second of one ``render_faces`` call; the renderer is
    single-threaded, so the CPU-time rate is what an idle core delivers on a busy machine."""
    rng = np.random.default_rng(0)
    identities = sample_identities(n, rng)
    weights = np.eye(8)[rng.integers(0, 8, n)]
    aus = sample_aus(weights, domain, rng, identities.au_gain)
    nuisance = sample_nuisance(domain, n, rng)
    render_faces(aus[:8], identities[:8], nuisance[:8], size=size)   # warm caches
    wall, cpu = time.perf_counter(), time.process_time()
    render_faces(aus, identities, nuisance, size=size, raw=raw)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    runs = [(100, "wild", False), (100, "lab", False), (112, "wild", False), (48, "wild", False),
            (100, "wild", True)]
    for size, domain, raw in runs:
        wall, cpu = images_per_second(n // 4 if raw else n, size, domain, raw)
        label = f"size {size:3d} {domain:4s}" + (" raw=True" if raw else "")
        print(f"{label:22s}: {wall:6.0f} images/s wall-clock, {cpu:6.0f} images/CPU-second")


if __name__ == "__main__":
    main()
