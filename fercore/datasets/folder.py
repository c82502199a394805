"""A folder of class folders (torchvision's ``ImageFolder`` layout), the layout most photo
collections have::

    root/happy/img001.jpg            root/train/happy/img001.jpg
    root/Angry/img002.png     or     root/test/sad/img003.jpg
    ...

Class folder names are matched to the book's emotion vocabulary ignoring case and punctuation,
with the usual spellings (``happy``, ``Angry``, ``surprised``, ``fearful``...); an unknown name is
an error listing the accepted ones. Labels are in BASIC7 order (RAF-DB basic's), with contempt
added as an eighth class when a ``contempt`` folder exists. Without ``train``/``test`` folders
each image goes to ``test`` with probability ``test_fraction``, decided by a hash of its path
(the same split on every machine).

Faces are aligned to RAF-DB's template from five landmarks: those in ``root/landmarks5.csv`` if it
lists the file, else detected once and cached there (:mod:`fercore.datasets.detected`). Images
in which no face is found are left out with a warning. ``align=False`` resizes whole images
(for a folder of faces already cropped and aligned).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from fercore.datasets.base import (
    IMAGE_SUFFIXES,
    FaceSet,
    align_images,
    format_error,
    landmarks_frame,
    read_gray,
    read_images,
    read_truth,
    require_dir,
)
from fercore.datasets.detected import detected_landmarks, warn_faceless
from fercore.labels import BASIC7, CONTEMPT
from fercore.progress import progress

SPELLINGS = {
    "surprise": ("surprise", "surprised", "su"),
    "fear": ("fear", "fearful", "scared", "afraid", "fe"),
    "disgust": ("disgust", "disgusted", "di"),
    "happiness": ("happiness", "happy", "joy", "ha"),
    "sadness": ("sadness", "sad", "sa"),
    "anger": ("anger", "angry", "an"),
    "neutral": ("neutral", "ne"),
    CONTEMPT: ("contempt", "contemptuous"),
}
"""Class folder names accepted for each class (compared in lower case without punctuation)."""

SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "validation": "val",
                 "valid": "val", "test": "test", "testing": "test"}


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


_CLASS_OF = {_key(s): c for c, spellings in SPELLINGS.items() for s in spellings}


def class_of(folder_name: str) -> str | None:
    """The class a folder name stands for (``Happy`` → happiness), or None."""
    return _CLASS_OF.get(_key(folder_name))


def stable_split(path: str, test_fraction: float) -> str:
    """``test`` for a fraction ``test_fraction`` of paths, chosen by a hash of the path text."""
    value = int(hashlib.sha256(path.encode()).hexdigest()[:8], 16) / 16**8
    return "test" if value < test_fraction else "train"


def _subfolders(folder: Path) -> list:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _class_folders(folder: Path) -> list:
    folders = _subfolders(folder)
    unknown = [p.name for p in folders if class_of(p.name) is None]
    if unknown:
        accepted = ", ".join(s for spellings in SPELLINGS.values() for s in spellings[:2])
        raise format_error(folder, f"unknown class folder name(s) {unknown}; accepted names (any case): {accepted}")
    if not folders:
        raise format_error(folder, "no class folders (expected root/<class name>/*.jpg)")
    return folders


def folder_entries(root, test_fraction: float = 0.2) -> list:
    """``(file relative to root, split, class)`` of every image, sorted by file."""
    root = Path(root)
    subfolders = _subfolders(root)
    if subfolders and all(_key(p.name) in SPLIT_FOLDERS for p in subfolders):
        groups = [(p, SPLIT_FOLDERS[_key(p.name)]) for p in subfolders]
    else:
        groups = [(root, None)]
    entries = []
    for folder, split in groups:
        for class_dir in _class_folders(folder):
            for path in sorted(class_dir.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                    name = path.relative_to(root).as_posix()
                    entries.append((name, split or stable_split(name, test_fraction), class_of(class_dir.name)))
    return sorted(entries)


def load_folder(root, split: str | None = None, size: int = 100, align: bool = True,
                test_fraction: float = 0.2, device="auto") -> FaceSet:
    """Load a folder of class folders as a single-label :class:`FaceSet` (BASIC7 order).

    ``split``: ``train``, ``val`` or ``test`` keeps those images. ``align``: align the faces from
    their five landmarks (cached in ``root/landmarks5.csv``, detected when missing) or, if False,
    resize whole images. Landmarks go to ``meta`` (x0, y0, ..., x4, y4).
    """
    root = require_dir(root, "image folder")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    entries = folder_entries(root, test_fraction)
    if split is not None:
        if split not in set(SPLIT_FOLDERS.values()):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        entries = [e for e in entries if e[1] == split]
    if not entries:
        raise format_error(root, f"no {'' if split is None else split + ' '}images ({', '.join(IMAGE_SUFFIXES)})")
    class_names = BASIC7 + ((CONTEMPT,) if any(c == CONTEMPT for *_, c in entries) else ())
    meta = None
    if align:
        points = detected_landmarks(root, [f for f, *_ in entries], device=device)
        warn_faceless(root, [f for f, *_ in entries if points[f] is None])
        entries = [e for e in entries if points[e[0]] is not None]
        landmarks = np.array([points[f] for f, *_ in entries]).reshape(-1, 5, 2)
        raw = [read_gray(root / f) for f, *_ in progress(entries, desc="folder", unit="img")]
        images = align_images(raw, landmarks, size)
        meta = landmarks_frame(landmarks)
    else:
        images = read_images([root / f for f, *_ in entries], size=size, desc="folder")
    files = [f for f, *_ in entries]
    return FaceSet(
        name=f"folder-{root.name}",
        images=images,
        labels=np.array([class_names.index(c) for *_, c in entries], np.int64),
        class_names=class_names,
        files=files,
        split=[s for _, s, _ in entries],
        meta=meta,
        truth=read_truth(root, files),
    )
