"""Five landmarks detected for images a dataset ships without them, cached beside the data.

Used by the loaders when a copy lacks landmark files (RAF-DB ``Image/original`` without
``Annotation/manual``, SFEW frames, AffectNet rows without ``facial_landmarks``, a folder of
photos). The cache is the ``landmarks5.csv`` sidecar the loaders already read (``file, x0, y0,
..., x4, y4`` in the file's pixel coordinates, keys relative to the folder that holds the
sidecar); a file in which no face was found is kept with empty coordinates, so detection runs
once per file. The detector is :class:`fercore.detect.FaceDetector` (largest face).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fercore.datasets.base import LANDMARKS5_FILE, landmark_columns, read_csv_checked, write_csv
from fercore.progress import progress


def read_landmark_cache(path) -> dict:
    """``{file: (5, 2) array, or None where no face was found}`` from a ``landmarks5.csv``."""
    path = Path(path)
    if not path.is_file():
        return {}
    table = read_csv_checked(path, ["file", *landmark_columns(5)], "landmark sidecar", dtype={"file": str})
    points = table[landmark_columns(5)].to_numpy(np.float64).reshape(-1, 5, 2)
    return {f: (None if np.isnan(p).any() else p) for f, p in zip(table["file"], points)}


def write_landmark_cache(path, cache: dict) -> None:
    """Write ``cache`` (as :func:`read_landmark_cache` returns) atomically, files sorted."""
    path = Path(path)
    files = sorted(cache)
    points = np.array([np.full((5, 2), np.nan) if cache[f] is None else cache[f] for f in files]).reshape(-1, 10)
    table = pd.DataFrame(points, columns=landmark_columns(5))
    table.insert(0, "file", files)
    tmp = path.with_name(f".{path.name}.tmp")
    write_csv(tmp, table)
    tmp.replace(path)


def detected_landmarks(folder, files, *, cache_name: str = LANDMARKS5_FILE, detector=None,
                       device="auto", desc: str = "detecting faces") -> dict:
    """Five landmarks of each ``folder/<file>``: read from ``folder/<cache_name>``, detected (and
    added to it) for the files it lacks. Returns ``{file: (5, 2) or None}`` for ``files``.

    Landmarks are in the coordinates of the image as stored (EXIF orientation not applied), as
    the loaders read it. A file that is not a readable image raises an error naming it.
    """
    from fercore.detect import FaceDetector, read_photo

    folder = Path(folder)
    path = folder / cache_name
    cache = read_landmark_cache(path)
    todo = [f for f in files if f not in cache]
    if todo:
        detector = detector or FaceDetector(keep="largest", device=device)
        try:
            for i, name in enumerate(progress(todo, desc=desc, unit="img")):
                photo = read_photo(folder / name, upright=False)
                faces = detector.detect(photo.rgb)[0]
                # rounded as the sidecar stores them, so a later load aligns identically
                cache[name] = np.round(faces[0].landmarks / photo.scale, 2) if faces else None
                if i % 200 == 199:
                    write_landmark_cache(path, cache)  # keep the work done if interrupted
        finally:
            write_landmark_cache(path, cache)
    return {f: cache[f] for f in files}


def warn_faceless(where, files) -> None:
    """Warn that ``files`` (no face detected) are left out, naming the first few."""
    if len(files):
        shown = ", ".join(map(str, files[:5])) + (", ..." if len(files) > 5 else "")
        warnings.warn(f"{where}: no face found in {len(files)} image(s), left out: {shown}", stacklevel=3)
