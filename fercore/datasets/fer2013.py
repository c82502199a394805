"""FER2013 (Goodfellow et al. 2013, ICML challenge): ``fer2013.csv`` with 48 x 48 faces as text.

Columns ``emotion`` (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral),
``pixels`` (2,304 space-separated gray values) and ``Usage`` (Training, PublicTest, PrivateTest ->
splits ``train``, ``val``, ``test``). Files are the CSV row numbers (``row_00001``...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fercore.datasets.base import (
    FaceSet,
    csv_line,
    format_error,
    read_csv_checked,
    read_truth,
    require_dir,
    resize_gray,
    write_csv,
)
from fercore.labels import BASIC7

CSV_FILE = "fer2013.csv"
CODE_NAMES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
"""FER2013's emotion codes 0..6 as BASIC7 names."""
USAGES = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SIDE = 48


def row_name(i: int) -> str:
    return f"row_{i + 1:05d}"


def load_fer2013(root, split: str | None = None, size: int = SIDE) -> FaceSet:
    """Load ``fer2013.csv`` (labels in BASIC7 order); ``size`` resizes the 48 x 48 faces."""
    root = require_dir(root, "FER2013")
    path = root / CSV_FILE
    table = read_csv_checked(path, ["emotion", "pixels", "Usage"], "FER2013 CSV", dtype={"pixels": str})
    if split is not None and split not in USAGES.values():
        raise ValueError(f"split must be one of {list(USAGES.values())} or None, got {split!r}")
    if table.empty:
        raise format_error(path, "no rows after the header")
    codes = pd.to_numeric(table["emotion"], errors="coerce")
    bad = ~codes.isin(range(len(CODE_NAMES)))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise format_error(path, f"unknown emotion {table['emotion'].iloc[row]!r} (codes 0..6)", csv_line(row))
    unknown = ~table["Usage"].isin(list(USAGES))
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise format_error(path, f"unknown Usage {table['Usage'].iloc[row]!r} (expected {list(USAGES)})", csv_line(row))
    repeated = table.duplicated(["emotion", "pixels", "Usage"], keep="first").to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        same = (table[["emotion", "pixels", "Usage"]] == table.iloc[row][["emotion", "pixels", "Usage"]]).all(axis=1)
        first = int(np.flatnonzero(same.to_numpy())[0])
        raise format_error(path, f"repeats line {csv_line(first)} (same emotion, pixels and Usage); "
                                 "remove the repeated line", csv_line(row))
    splits = table["Usage"].map(USAGES).to_numpy(dtype=object)
    files = np.array([row_name(i) for i in range(len(table))], dtype=object)
    keep = np.ones(len(table), bool) if split is None else splits == split
    images = []
    for i in np.flatnonzero(keep):
        try:
            pixels = np.array(table["pixels"].iloc[i].split(), dtype=np.float64)
        except (ValueError, AttributeError):
            raise format_error(path, "pixels must be space-separated numbers", csv_line(i)) from None
        if pixels.size != SIDE * SIDE:
            raise format_error(path, f"expected {SIDE * SIDE} gray values, found {pixels.size}", csv_line(i))
        if not (np.isfinite(pixels).all() and (pixels == np.round(pixels)).all()
                and pixels.min() >= 0 and pixels.max() <= 255):
            raise format_error(path, "gray values must be whole numbers in 0..255", csv_line(i))
        images.append(resize_gray(pixels.reshape(SIDE, SIDE).astype(np.uint8), size))
    images = np.stack(images) if images else np.zeros((0, size, size), np.uint8)
    labels = np.array([BASIC7.index(CODE_NAMES[c]) for c in codes[keep].astype(int)], np.int64)
    return FaceSet(
        name="fer2013",
        images=images,
        labels=labels,
        class_names=BASIC7,
        files=files[keep],
        split=splits[keep],
        truth=read_truth(root, files[keep]),
    )


def write_fer2013(root, images, labels, splits) -> None:
    """Write ``fer2013.csv``: 48 x 48 uint8 faces, BASIC7 labels, splits train/val/test."""
    usage = {v: k for k, v in USAGES.items()}
    images = np.asarray(images, np.uint8)
    if images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"FER2013 faces are {SIDE} x {SIDE}, got {images.shape[1:]}")
    table = pd.DataFrame({
        "emotion": [CODE_NAMES.index(BASIC7[c]) for c in labels],
        "pixels": [" ".join(map(str, im.reshape(-1))) for im in images],
        "Usage": [usage[s] for s in splits],
    })
    write_csv(Path(root) / CSV_FILE, table)
