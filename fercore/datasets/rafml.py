"""RAF-ML (Li & Deng, IJCV 2019): multi-label in-the-wild expressions over the six basic emotions.

The paper describes the content (6-dim emotion distributions, multi-label sets with 2-4 labels,
five manual landmarks, age/gender/race, a fixed 4,090 / 818 train/test split) but not the file
layout, so this package reads the RAF family's layout::

    EmoLabel/distribution.txt    train_0001.jpg p_surprise p_fear p_disgust p_happiness p_sadness p_anger
    EmoLabel/multilabel.txt      train_0001.jpg 1 0 1 0 0 0
    Image/aligned/train_0001_aligned.jpg                 (and Image/original/train_0001.jpg)
    Annotation/manual/train_0001_manu_attri.txt          (as RAF-DB's)

Split from the ``train_`` / ``test_`` name prefix (``all`` when a name has none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fercore.datasets.base import (
    FaceSet,
    format_error,
    parse_number,
    read_images,
    read_named_vectors,
    read_truth,
    require_dir,
    require_file,
    split_from_name,
    write_image,
    write_lines,
)
from fercore.datasets.rafdb import (
    aligned_name,
    check_split,
    read_attributes,
    read_distribution_file,
    write_attribute_files,
)
from fercore.labels import EMOTIONS6

DISTRIBUTION_FILE = "distribution.txt"
MULTILABEL_FILE = "multilabel.txt"


def read_multilabel_file(path, k: int = 6) -> dict:
    """``name b_1 ... b_k`` lines (0/1) as ``{name: (k,) float}``, each name once."""
    def parse(fields, line):
        values = [parse_number(v, path, line, int) for v in fields]
        if any(v not in (0, 1) for v in values):
            raise format_error(path, f"multi-label entries must be 0 or 1, found {fields}", line)
        return np.asarray(values, np.float64)

    return read_named_vectors(path, k, parse)


def load_rafml(root, split: str | None = None, labels: str = "multilabel", size: int = 100,
               color: bool = False) -> FaceSet:
    """Load RAF-ML: ``labels="multilabel"`` (binary ``(n, 6)``) or ``"distribution"`` (6-dim).
    Images are grey unless ``color=True`` (RGB ``(n, size, size, 3)``; the files are colour)."""
    if labels not in ("multilabel", "distribution"):
        raise ValueError(f"labels must be 'multilabel' or 'distribution', got {labels!r}")
    root = require_dir(root, "RAF-ML")
    path = require_file(root / "EmoLabel" / (MULTILABEL_FILE if labels == "multilabel" else DISTRIBUTION_FILE),
                        f"RAF-ML {labels} file")
    table = read_multilabel_file(path) if labels == "multilabel" else read_distribution_file(path, len(EMOTIONS6))
    names = list(table)
    split_of = np.array([split_from_name(n) for n in names], dtype=object)
    if split is not None:
        check_split(split, split_of, path)
        names = [n for n, s in zip(names, split_of) if s == split]
        split_of = np.array([split] * len(names), dtype=object)
    folder = require_dir(root / "Image" / "aligned", "RAF-ML aligned images")
    images = read_images([folder / aligned_name(n) for n in names], size=size, desc="rafml", color=color)
    y = np.stack([table[n] for n in names]).astype(np.float32) if names else np.zeros((0, 6), np.float32)
    return FaceSet(
        name="rafml",
        images=images,
        labels=y,
        class_names=EMOTIONS6,
        files=names,
        split=split_of,
        label_kind=labels,
        meta=read_attributes(root / "Annotation" / "manual", names),
        truth=read_truth(root, names),
    )


def write_rafml(root, names, aligned, distributions, multilabels, landmarks=None, attributes=None,
                originals=None) -> None:
    """Write a RAF-ML copy: aligned images, the 6-dim distributions, the binary label sets and,
    optionally, originals and attribute files (landmarks in original-image coordinates)."""
    root = Path(root)
    for name, im in zip(names, aligned):
        write_image(root / "Image" / "aligned" / aligned_name(name), im)
    for name, im in zip(names, originals if originals is not None else []):
        write_image(root / "Image" / "original" / name, im)
    write_lines(root / "EmoLabel" / DISTRIBUTION_FILE,
                [f"{n} " + " ".join(f"{p:.4f}" for p in d) for n, d in zip(names, distributions)])
    write_lines(root / "EmoLabel" / MULTILABEL_FILE,
                [f"{n} " + " ".join(str(int(b)) for b in m) for n, m in zip(names, multilabels)])
    if landmarks is not None:
        write_attribute_files(root / "Annotation" / "manual", names, landmarks, attributes)
