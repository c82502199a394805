"""SFEW 2.0 (Dhall et al., EmotiW 2015): film frames in ``Train/<Class>/`` and ``Val/<Class>/``.

Class folders: Angry Disgust Fear Happy Neutral Sad Surprise. Point the loader at the aligned-face
release (what the papers used); a synthetic copy stores aligned faces. An optional
``landmarks5.csv`` sidecar (file relative to the root) aligns unaligned frames instead;
``detect=True`` writes that sidecar from detected landmarks first (once; frames with no face
found are left out with a warning).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fercore.datasets.base import (
    IMAGE_SUFFIXES,
    FaceSet,
    class_folders,
    image_files,
    read_faces,
    read_truth,
    require_dir,
    write_image,
)
from fercore.datasets.detected import detected_landmarks, warn_faceless
from fercore.labels import BASIC7

FOLDERS = {"Angry": "anger", "Disgust": "disgust", "Fear": "fear", "Happy": "happiness", "Neutral": "neutral",
           "Sad": "sadness", "Surprise": "surprise"}
SPLITS = {"train": "Train", "val": "Val"}


def load_sfew(root, split: str | None = None, size: int = 100, detect: bool = False,
              color: bool = False) -> FaceSet:
    """Load SFEW 2.0's labelled splits (``train``, ``val`` or both), labels in BASIC7 order;
    ``detect=True`` for the unaligned film frames (see the module docstring). Images are grey
    unless ``color=True`` (RGB ``(n, size, size, 3)``; the files are colour)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)} or None, got {split!r}")
    root = require_dir(root, "SFEW 2.0")
    entries = []
    for s in [split] if split else list(SPLITS):
        folder = require_dir(root / SPLITS[s], f"SFEW {SPLITS[s]}")
        for class_dir in class_folders(folder, FOLDERS):
            entries += [(path, s, FOLDERS[class_dir.name]) for path in image_files(class_dir, IMAGE_SUFFIXES)]
    files = [str(p.relative_to(root)) for p, _, _ in entries]
    if detect:
        found = detected_landmarks(root, files)
        warn_faceless(root, [f for f in files if found[f] is None])
        entries = [e for f, e in zip(files, entries) if found[f] is not None]
        files = [f for f in files if found[f] is not None]
    return FaceSet(
        name="sfew",
        images=read_faces(root, files, size, desc="sfew", color=color),
        labels=np.array([BASIC7.index(c) for _, _, c in entries], np.int64),
        class_names=BASIC7,
        files=files,
        split=[s for _, s, _ in entries],
        truth=read_truth(root, files),
    )


def sfew_path(split: str, emotion: str, name: str) -> str:
    """Relative path of an image: ``Train/Happy/<name>``."""
    folder = {v: k for k, v in FOLDERS.items()}[emotion]
    return f"{SPLITS[split]}/{folder}/{name}"


def write_sfew(root, paths, images) -> None:
    """Write images at the relative ``paths`` made by :func:`sfew_path`."""
    for path, im in zip(paths, images):
        write_image(Path(root) / path, im)
