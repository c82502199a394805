"""Speed of the batched LBP / HOG / Gabor transformers against a per-image scikit-image loop.

Both sides compute the same 5,900 / 4,000 / 4,000-d descriptors of the same images (checked on
a few images); the figure of merit is the speed-up. The scikit-image Gabor loop (40 spatial
convolutions per face) takes seconds per face, so it is timed on ``--gabor-reference`` images
and extrapolated — printed as such.

    python tests/benchmarks/bench_features.py [--n 2000] [--features lbp,hog,gabor] [--repeat 3]
                                              [--data-root data/default]

Faces come from ``synth-rafdb`` under ``--data-root`` when it exists, else smooth random
images. BLAS and numba are held to one thread so the timing is that of one core; each of our
transformers is run once on two faces before timing (numba compiles or loads the LBP loop on
first use), and that one-off time is printed apart. Both sides are timed ``--repeat`` times,
alternately, and the fastest run of each is kept: other work on a shared machine only ever
adds time. Each side's first run also pays for fresh memory from the system (its 2,000-row
output; slow on this virtual machine), later runs reuse it; the first runs are printed too.
The load average is printed before and after.
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402
from skimage.feature import hog, local_binary_pattern  # noqa: E402
from skimage.filters import gabor  # noqa: E402
from skimage.transform import downscale_local_mean  # noqa: E402

from fercore import features  # noqa: E402


def faces(n, data_root, seed):
    """``n`` uint8 100×100 faces: a synthetic RAF-DB copy if there is one, else smooth noise."""
    if data_root:
        try:
            from fercore.datasets import load

            images = load("rafdb", data_root, subset="basic").images
            if len(images) >= n:
                return images[:n], f"synth-rafdb under {data_root}"
            return np.resize(images, (n, *images.shape[1:])), f"synth-rafdb under {data_root} (repeated)"
        except (FileNotFoundError, ValueError):
            pass
    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.normal(size=(n, 100, 100)), sigma=(0, 1.5, 1.5))
    return np.clip(128 + 400 * noise, 0, 255).astype(np.uint8), "smooth random images"


def lbp_reference(image):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codes = local_binary_pattern(image, 8, 2, method="nri_uniform").astype(np.int64)
    cells = codes.reshape(10, 10, 10, 10).transpose(0, 2, 1, 3).reshape(100, 100)
    return (np.bincount((cells + 59 * np.arange(100)[:, None]).ravel(), minlength=5900) / 100.0)


def hog_reference(image):
    return hog(image, orientations=10, pixels_per_cell=(5, 5), cells_per_block=(2, 2), block_norm="L2-Hys",
               feature_vector=False)[::2, ::2].ravel()


def gabor_reference(image, bank=features.gabor_bank()):
    image = image.astype(np.float64)  # scipy.ndimage would keep uint8 and truncate the responses
    maps = []
    for frequency, theta, _ in bank:
        real, imag = gabor(image, frequency, theta=theta, bandwidth=1.0)
        maps.append(downscale_local_mean(np.hypot(real, imag), (10, 10)))
    return np.stack(maps).ravel()


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images (default 2000)")
    parser.add_argument("--features", default="lbp,hog,gabor", help="comma-separated subset of lbp,hog,gabor")
    parser.add_argument("--gabor-reference", type=int, default=20, help="images timed for the scikit-image Gabor loop")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side; the fastest is kept")
    parser.add_argument("--data-root", default="data/default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    chosen = args.features.split(",")
    unknown = sorted(set(chosen) - {"lbp", "hog", "gabor"})
    if unknown:
        parser.error(f"unknown feature(s) {unknown}; choose from lbp, hog, gabor")
    images, source = faces(args.n, args.data_root, args.seed)
    print(f"{len(images)} faces of 100×100 ({source}); wall-clock times (CPU in brackets), best of {args.repeat}")
    print("load average (1, 5, 15 min) at start: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
    rows = [
        ("LBP", features.LBPTransformer(dtype="float64"), lbp_reference, len(images)),
        ("HOG", features.HOGTransformer(dtype="float64"), hog_reference, len(images)),
        ("Gabor", features.GaborTransformer(dtype="float64"), gabor_reference, min(args.gabor_reference, len(images))),
    ]
    rows = [row for row in rows if row[0].lower() in chosen]
    print(f"{'feature':8s} {'ours (s)':>16s} {'scikit-image loop (s)':>26s} {'speed-up':>9s}  max |diff|")
    for name, transformer, reference, n_ref in rows:
        _, warmup, _ = timed(lambda: transformer.fit_transform(images[:2]))
        runs, ref_runs = [], []
        for _ in range(args.repeat):
            ours = ref = None  # free the last outputs so that the next run can reuse their memory
            ours, *times = timed(lambda: transformer.fit_transform(images))
            runs.append(times)
            ref, *times = timed(lambda: np.stack([reference(im) for im in images[:n_ref]]))
            ref_runs.append(times)
        wall, cpu = min(runs)
        ref_wall, ref_cpu = min(ref_runs)
        scale = len(images) / n_ref
        note = f" (timed on {n_ref}, ×{scale:.0f})" if n_ref < len(images) else ""
        diff = np.abs(ours[:n_ref] - ref).max()
        print(f"{name:8s} {wall:7.2f} ({cpu:6.2f}) {ref_wall * scale:9.2f} ({ref_cpu * scale:7.2f}){note:>16s}"
              f" {ref_wall * scale / wall:8.1f}×  {diff:.1e}")
        print(f"{'':8s} {len(images) / wall:7.0f} img/s ours, {n_ref / ref_wall:.1f} img/s scikit-image;"
              f" first call on 2 faces {warmup:.2f} s (not counted)")
        print(f"{'':8s} first runs: {runs[0][0]:.2f} s ours, {ref_runs[0][0] * scale:.2f} s scikit-image,"
              f" {ref_runs[0][0] * scale / runs[0][0]:.1f}×")
    print("\nload average (1, 5, 15 min) at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
