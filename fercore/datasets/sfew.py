"""SFEW 2.0 (Dhall et al., EmotiW 2015): film frames in ``Train/<Class>/`` and ``Val/<Class>/``.

Class folders: Angry Disgust Fear Happy Neutral Sad Surprise. Point the loader at the aligned-face
release (what the papers used); a synthetic copy stores aligned faces. An optional
``landmarks5.csv`` sidecar (file relative to the root) aligns unaligned frames instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fercore.datasets.base import (
    FaceSet,
    align_images,
    format_error,
    read_gray,
    read_landmarks5_sidecar,
    read_truth,
    require_dir,
    resize_gray,
    write_gray,
)
from fercore.labels import BASIC7
from fercore.progress import progress

FOLDERS = {"Angry": "anger", "Disgust": "disgust", "Fear": "fear", "Happy": "happiness", "Neutral": "neutral",
           "Sad": "sadness", "Surprise": "surprise"}
SPLITS = {"train": "Train", "val": "Val"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_sfew(root, split: str | None = None, size: int = 100) -> FaceSet:
    """Load SFEW 2.0's labelled splits (``train``, ``val`` or both), labels in BASIC7 order."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)} or None, got {split!r}")
    root = require_dir(root, "SFEW 2.0")
    entries = []
    for s in [split] if split else list(SPLITS):
        folder = require_dir(root / SPLITS[s], f"SFEW {SPLITS[s]}")
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if class_dir.name not in FOLDERS:
                raise format_error(class_dir, f"unknown class folder (expected one of {list(FOLDERS)})")
            for path in sorted(class_dir.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    entries.append((path, s, FOLDERS[class_dir.name]))
    files = [str(p.relative_to(root)) for p, _, _ in entries]
    raw = [read_gray(p) for p, _, _ in progress(entries, desc="sfew", unit="img")]
    sidecar = read_landmarks5_sidecar(root)
    if sidecar is not None:
        missing = [f for f in files if f not in sidecar]
        if missing:
            raise format_error(root / "landmarks5.csv", f"no landmarks for {missing[0]!r}")
        images = align_images(raw, np.stack([sidecar[f] for f in files]), size)
    else:
        images = np.stack([resize_gray(im, size) for im in raw]) if raw else np.zeros((0, size, size), np.uint8)
    return FaceSet(
        name="sfew",
        images=images,
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
        write_gray(Path(root) / path, im)
