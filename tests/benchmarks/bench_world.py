"""Generation speed of the whole synthetic world: faces, crowd, EM, files.

Materializes a profile's world into a temporary folder and prints, per generation unit, the
seconds, faces rendered and faces per second, then the total (the issue's target: the smoke
world in about 30 s, the default world in about 3 minutes on the 2-core machine).

    python tests/benchmarks/bench_world.py [--profile smoke] [--root DIR]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from fercore.synth import world


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--root", help="write here instead of a temporary folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root or tmp)
        start = time.perf_counter()
        manifest = world.materialize(root, args.profile, seed=args.seed)
        total = time.perf_counter() - start
        print(f"world for profile {args.profile!r} in {root}")
        print(f"{'unit':<10} {'seconds':>8} {'faces':>7} {'faces/s':>8}")
        for unit, (names, _) in world_units().items():
            entry = json.loads((root / f"synth-{names[0]}" / world.MANIFEST).read_text())
            summary = entry["summary"]
            faces = summary.get("rendered", summary.get("images", 0))
            print(f"{unit:<10} {entry['seconds']:8.1f} {faces:7d} {faces / max(entry['seconds'], 1e-9):8.1f}")
        print(f"total: {total:.1f} s wall, {manifest['images']} image files, "
              f"{manifest['images_per_second']} faces/s over the generated units")
        again = time.perf_counter()
        world.materialize(root, args.profile, seed=args.seed)
        print(f"second call (no-op): {time.perf_counter() - again:.2f} s")


def world_units():
    from fercore.synth.writers import WRITERS

    return WRITERS


if __name__ == "__main__":
    main()
