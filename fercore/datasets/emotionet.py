"""EmotioNet (Benitez-Quiroz et al. 2016; challenge 2017): AU presence for most images, emotion
and compound labels for a small subset, EmotioNet-style CSV files::

    images/000001.jpg
    au_labels.csv        file, AU1, AU2, AU4, ..., AU43   (1 present, 0 absent, 999 not coded)
    emotion_labels.csv   file, emotion                    (a BASIC7 or COMPOUND11 name)

AU columns may also be spelled ``AU 1`` (the challenge's spreadsheet). Split: ``all``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from fercore.datasets.base import (
    FaceSet,
    check_unique_names,
    csv_line,
    format_error,
    read_csv_checked,
    read_images,
    read_truth,
    require_dir,
    write_csv,
    write_image,
)
from fercore.labels import BASIC7, COMPOUND11

AU_FILE = "au_labels.csv"
EMOTION_FILE = "emotion_labels.csv"
IMAGE_DIR = "images"
CHALLENGE_AUS = (1, 2, 4, 5, 6, 9, 12, 17, 20, 25, 26, 43)
"""The AUs coded in the EmotioNet challenge's manually annotated set."""
UNKNOWN = 999
EMOTION_CLASSES = BASIC7 + COMPOUND11


def _au_columns(table: pd.DataFrame, path) -> dict:
    columns = {}
    for column in table.columns:
        match = re.fullmatch(r"AU\s*(\d+)", str(column).strip())
        if match:
            columns[int(match.group(1))] = column
    if not columns:
        raise format_error(path, f"no AU columns (AU1, AU 2, ...) among {list(table.columns)}", 1)
    return dict(sorted(columns.items()))


def load_emotionet(root, labels: str = "au", size: int = 100, color: bool = False) -> FaceSet:
    """Load EmotioNet: ``labels="au"`` gives ``(n, n_AUs)`` presence (NaN where 999), with the
    Images are grey unless ``color=True`` (RGB ``(n, size, size, 3)``; the files are colour).
    AUs the file codes; ``labels="emotion"`` gives the emotion-labelled subset over
    BASIC7 + COMPOUND11."""
    if labels not in ("au", "emotion"):
        raise ValueError(f"labels must be 'au' or 'emotion', got {labels!r}")
    root = require_dir(root, "EmotioNet")
    if labels == "au":
        path = root / AU_FILE
        table = read_csv_checked(path, ["file"], "EmotioNet AU labels", dtype={"file": str})
        columns = _au_columns(table, path)
        values = table[list(columns.values())].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        bad = ~np.isin(values, (0, 1, UNKNOWN))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            value = table.iloc[row][list(columns.values())[col]]
            raise format_error(path, f"AU value {value} is not 0, 1 or 999", csv_line(row))
        y = np.where(values == UNKNOWN, np.nan, values).astype(np.float32)
        class_names, kind = tuple(f"AU{a}" for a in columns), "au"
    else:
        path = root / EMOTION_FILE
        table = read_csv_checked(path, ["file", "emotion"], "EmotioNet emotion labels", dtype={"file": str})
        unknown = ~table["emotion"].isin(EMOTION_CLASSES)
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise format_error(path, f"unknown emotion {table['emotion'].iloc[row]!r}", csv_line(row))
        y = np.array([EMOTION_CLASSES.index(e) for e in table["emotion"]], np.int64)
        class_names, kind = EMOTION_CLASSES, "single"
    if table.empty:
        raise format_error(path, "no rows after the header")
    files = table["file"].to_numpy(dtype=object)
    check_unique_names(path, list(files), [csv_line(i) for i in range(len(files))], list(y))
    images = read_images([root / IMAGE_DIR / f for f in files], size=size, desc="emotionet", color=color)
    return FaceSet(
        name="emotionet",
        images=images,
        labels=y,
        class_names=class_names,
        files=files,
        label_kind=kind,
        truth=read_truth(root, files),
    )


def write_emotionet(root, files, images, au_presence, emotion_files=(), emotions=()) -> None:
    """Write images, the AU table (``au_presence`` (n, 12) over CHALLENGE_AUS, NaN -> 999)
    and the emotion table for the labelled subset."""
    root = Path(root)
    for name, im in zip(files, images):
        write_image(root / IMAGE_DIR / name, im)
    au = np.where(np.isnan(au_presence), UNKNOWN, au_presence).astype(int)
    table = pd.DataFrame(au, columns=[f"AU{a}" for a in CHALLENGE_AUS])
    table.insert(0, "file", list(files))
    write_csv(root / AU_FILE, table)
    write_csv(root / EMOTION_FILE, pd.DataFrame({"file": list(emotion_files), "emotion": list(emotions)}))
