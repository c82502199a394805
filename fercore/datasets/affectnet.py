"""AffectNet (Mollahosseini, Hasani & Mahoor 2017): the manually annotated part, original CSV layout.

::

    Manually_Annotated_file_lists/training.csv     (and validation.csv)
        subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal
        689/737db2...jpg,134,134,899,899,181.64;530.91;...,1,0.785714,-0.055556
    Manually_Annotated_Images/689/737db2...jpg      (original, unaligned images)

Expression codes: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt,
8 None, 9 Uncertain, 10 Non-Face. Faces are cropped from the bounding box and resized (or, with
``align=True``, aligned from the landmarks: 68 points, or 5 in a synthetic copy; rows with an
empty ``facial_landmarks`` are aligned from landmarks detected once and cached in
``Manually_Annotated_Images/landmarks5.csv``, and left out with a warning if no face is found).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fercore.datasets.base import (
    FaceSet,
    align_images,
    as_landmarks5,
    csv_line,
    format_error,
    read_csv_checked,
    read_gray_or_rgb,
    read_truth,
    require_dir,
    write_csv,
    write_image,
)
from fercore.datasets.detected import detected_landmarks, warn_faceless
from fercore.labels import BASIC7, CONTEMPT
from fercore.progress import progress

COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
           "expression", "valence", "arousal")
CODE_NAMES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", CONTEMPT,
              "none", "uncertain", "non-face")
"""AffectNet's expression codes 0..10 as names (basic ones spelled as in ``fercore.labels``)."""
LIST_DIR = "Manually_Annotated_file_lists"
IMAGE_DIR = "Manually_Annotated_Images"
SPLIT_FILES = {"train": "training.csv", "val": "validation.csv"}
CLASS_SETS = {"basic7": BASIC7, "basic8": BASIC7 + (CONTEMPT,)}


def name_to_code(name: str) -> int:
    return CODE_NAMES.index(name)


def _list_file(root: Path, split: str) -> Path:
    for folder in (root / LIST_DIR, root):
        if (folder / SPLIT_FILES[split]).is_file():
            return folder / SPLIT_FILES[split]
    raise FileNotFoundError(f"{root / LIST_DIR / SPLIT_FILES[split]}: AffectNet {split} list not found")


def parse_landmarks(text, path, line) -> np.ndarray:
    try:
        values = [float(v) for v in str(text).split(";") if v.strip()]
    except ValueError:
        message = f"facial_landmarks {str(text)[:40]!r} is not a ';'-separated list of numbers"
        raise format_error(path, message, line) from None
    if len(values) % 2:
        raise format_error(path, "facial_landmarks has an odd number of coordinates", line)
    return as_landmarks5(np.asarray(values), path, line)


def check_box(box, image_shape, path, line) -> tuple:
    """The face box ``(x, y, w, h)`` as integers: finite, of positive size, at least half of it on
    the image (else the crop would be mostly black); errors name the list file and line."""
    values = pd.to_numeric(pd.Series(list(box)), errors="coerce").to_numpy(np.float64)
    if not np.isfinite(values).all():
        raise format_error(path, f"face box {tuple(box)} is not four numbers", line)
    x, y, w, h = (int(round(v)) for v in values)
    if w <= 0 or h <= 0:
        raise format_error(path, f"face box has width {w} and height {h}; both must be positive", line)
    height, width = image_shape[:2]
    overlap = max(0, min(x + w, width) - max(x, 0)) * max(0, min(y + h, height) - max(y, 0))
    if overlap < 0.5 * w * h:
        raise format_error(path, f"face box x={x} y={y} w={w} h={h} lies mostly off the {width} x {height} image", line)
    return x, y, w, h


def crop_face(image: np.ndarray, box, size: int) -> np.ndarray:
    """The bounding box ``(x, y, w, h)`` cut out (black outside the image) and resized."""
    x, y, w, h = (int(round(v)) for v in box)
    crop = Image.fromarray(image).crop((x, y, x + w, y + h))
    return np.asarray(crop.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _check_unique(table: pd.DataFrame) -> None:
    """Refuse an image listed twice (in one list or in both), naming both places."""
    seen = {}
    for row in table.itertuples(index=False):
        name = row.subDirectory_filePath
        if name not in seen:
            seen[name] = row
            continue
        first = seen[name]
        where = f"{first.source}, line {first.source_line}"
        if first.class_name != row.class_name:
            message = f"image {name!r} has two labels: {first.class_name} ({where}) and {row.class_name} here"
        else:
            message = f"image {name!r} is listed twice ({where} and here); remove the repeated line"
        raise format_error(row.source, message, row.source_line)


def load_affectnet(root, split: str | None = None, classes: str = "basic7", size: int = 100,
                   align: bool = False, color: bool = False) -> FaceSet:
    """Load AffectNet's manually annotated images (``split``: ``train``, ``val`` or both).
    Images are grey unless ``color=True`` (RGB ``(n, size, size, 3)``; the files are colour).

    ``classes="basic7"`` keeps codes 0-6 mapped to BASIC7; ``"basic8"`` adds contempt. The other
    codes (none, uncertain, non-face) are dropped. Valence, arousal and landmarks go to ``meta``.
    """
    if classes not in CLASS_SETS:
        raise ValueError(f"classes must be one of {list(CLASS_SETS)}, got {classes!r}")
    splits = list(SPLIT_FILES) if split is None else [split]
    if any(s not in SPLIT_FILES for s in splits):
        raise ValueError(f"split must be one of {list(SPLIT_FILES)} or None, got {split!r}")
    root = require_dir(root, "AffectNet")
    image_dir = require_dir(root / IMAGE_DIR, "AffectNet images")
    class_names = CLASS_SETS[classes]
    tables = []
    for s in splits:
        path = _list_file(root, s)
        table = read_csv_checked(path, COLUMNS, f"AffectNet {s} list", dtype={"subDirectory_filePath": str,
                                                                              "facial_landmarks": str})
        codes = pd.to_numeric(table["expression"], errors="coerce")
        bad = ~codes.isin(range(len(CODE_NAMES)))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise format_error(path, f"unknown expression {table['expression'].iloc[row]!r} (codes 0..10)",
                               csv_line(row))
        names = codes.astype(int).map(lambda c: CODE_NAMES[c])
        table = table.assign(source_line=[csv_line(i) for i in range(len(table))], source=str(path), split_name=s,
                             class_name=names)
        tables.append(table[table["class_name"].isin(class_names)])
    table = pd.concat(tables, ignore_index=True)
    _check_unique(table)
    unmarked = table["facial_landmarks"].fillna("").str.strip() == ""
    if align and unmarked.any():
        found = detected_landmarks(image_dir, list(table.loc[unmarked, "subDirectory_filePath"]))
        faceless = [f for f in table.loc[unmarked, "subDirectory_filePath"] if found[f] is None]
        warn_faceless(image_dir, faceless)
        table = table[~table["subDirectory_filePath"].isin(faceless)].reset_index(drop=True)
        unmarked = table["facial_landmarks"].fillna("").str.strip() == ""
    images, points = [], []
    for row, detect in progress(zip(table.itertuples(index=False), unmarked), total=len(table), desc="affectnet",
                                unit="img"):
        raw = read_gray_or_rgb(image_dir / row.subDirectory_filePath, color)
        if detect:
            points.append(found[row.subDirectory_filePath] if align else np.full((5, 2), np.nan))
        else:
            points.append(parse_landmarks(row.facial_landmarks, row.source, row.source_line))
        box = check_box((row.face_x, row.face_y, row.face_width, row.face_height), raw.shape, row.source,
                        row.source_line)
        if align:
            images.append(raw)
        else:
            images.append(crop_face(raw, box, size))
    points = np.asarray(points).reshape(-1, 5, 2)
    if align:
        images = align_images(images, points, size)
    images = np.stack(images) if len(images) else np.zeros((0, size, size) + ((3,) if color else ()), np.uint8)
    meta = table[["face_x", "face_y", "face_width", "face_height", "valence", "arousal"]].reset_index(drop=True)
    files = table["subDirectory_filePath"].to_numpy(dtype=object)
    return FaceSet(
        name="affectnet",
        images=images,
        labels=np.array([class_names.index(n) for n in table["class_name"]], np.int64),
        class_names=class_names,
        files=files,
        split=table["split_name"].to_numpy(dtype=object),
        meta=meta,
        truth=read_truth(root, files),
    )


def write_affectnet(root, split: str, files, images, boxes, landmarks, expressions, valence, arousal) -> None:
    """Write one AffectNet list (``train`` or ``val``) and its original images.

    ``expressions`` are class names (see :data:`CODE_NAMES`); ``boxes`` (n, 4) as x, y, w, h;
    ``landmarks`` (n, k, 2) written as AffectNet's ``x;y;x;y...`` string.
    """
    root = Path(root)
    for name, im in zip(files, images):
        write_image(root / IMAGE_DIR / name, im)
    boxes = np.asarray(boxes).round().astype(int)
    table = pd.DataFrame({
        "subDirectory_filePath": list(files),
        "face_x": boxes[:, 0], "face_y": boxes[:, 1], "face_width": boxes[:, 2], "face_height": boxes[:, 3],
        "facial_landmarks": [";".join(f"{v:.2f}" for v in p.reshape(-1)) for p in np.asarray(landmarks)],
        "expression": [name_to_code(e) for e in expressions],
        "valence": np.round(valence, 6), "arousal": np.round(arousal, 6),
    })
    write_csv(root / LIST_DIR / SPLIT_FILES[split], table)
