"""JAFFE (Lyons et al. 1998): ten Japanese female subjects posing 6 basic emotions and neutral.

::

    KA.AN1.39.tiff          subject . expression+index . serial   (AN DI FE HA NE SA SU)
    semantic_ratings.txt    N HAP SAD SUR ANG DIS FEA PIC         mean 1-5 ratings per image,
                            1 2.87 2.52 2.10 1.97 1.97 2.06 KA-AN1  PIC = subject-expression+index
    landmarks5.csv          optional sidecar: file, x0, y0, ..., x4, y4 (JAFFE ships no landmarks)

Labels: the posed expression (BASIC7 order) or, with ``labels="ratings"``, the six semantic
ratings as an ``(n, 6)`` float matrix in EMOTIONS6 order (images without ratings are dropped).
Faces are aligned from the landmark sidecar when present, otherwise the whole image is resized.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from fercore.datasets.base import (
    FaceSet,
    check_unique_names,
    format_error,
    image_files,
    parse_number,
    read_faces,
    read_rows,
    read_truth,
    require_dir,
    write_gray,
    write_landmarks5_sidecar,
    write_lines,
)
from fercore.labels import BASIC7, EMOTIONS6

EXPRESSIONS = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "NE": "neutral",
               "SA": "sadness", "SU": "surprise"}
RATING_COLUMNS = {"HAP": "happiness", "SAD": "sadness", "SUR": "surprise", "ANG": "anger", "DIS": "disgust",
                  "FEA": "fear"}
RATINGS_FILES = ("semantic_ratings.txt", "ratings.txt")
FILE_PATTERN = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.tiff?$")


def file_name(subject: str, expression: str, index: int, serial: int) -> str:
    """``KA.AN1.39.tiff`` from the subject's initials, the expression name, its index and serial."""
    code = {v: k for k, v in EXPRESSIONS.items()}[expression]
    return f"{subject}.{code}{index}.{serial}.tiff"


def read_ratings(path) -> dict:
    """``{"KA-AN1": (6,) ratings in EMOTIONS6 order}`` from the semantic ratings table."""
    rows = read_rows(path)
    header = None
    out, lines = {}, {}
    for line, fields in rows:
        tokens = [f.lstrip("#").upper() for f in fields]
        if header is None:
            if "HAP" in tokens:
                header = [t for t in tokens if t]
                missing = [c for c in (*RATING_COLUMNS, "PIC") if c not in header]
                if missing:
                    raise format_error(path, f"ratings header lacks {missing}", line)
                continue
            raise format_error(path, "expected a header naming HAP SAD SUR ANG DIS FEA PIC", line)
        if len(fields) != len(header):
            raise format_error(path, f"expected {len(header)} fields, found {len(fields)}", line)
        values = dict(zip(header, fields))
        ratings = {RATING_COLUMNS[c]: parse_number(values[c], path, line) for c in RATING_COLUMNS}
        if not all(1 <= r <= 5 for r in ratings.values()):
            raise format_error(path, "ratings must lie in 1..5", line)
        pic = values["PIC"]
        row = np.array([ratings[e] for e in EMOTIONS6])
        if pic in out:
            check_unique_names(path, [pic] * 2, [lines[pic], line], [out[pic], row], what="picture")
        out[pic], lines[pic] = row, line
    if header is None:
        raise format_error(path, "no header line (HAP SAD SUR ANG DIS FEA PIC)")
    return out


def load_jaffe(root, labels: str = "expression", size: int = 100) -> FaceSet:
    """Load JAFFE: ``labels="expression"`` (posed class, BASIC7) or ``"ratings"`` (``(n, 6)``, 1-5)."""
    if labels not in ("expression", "ratings"):
        raise ValueError(f"labels must be 'expression' or 'ratings', got {labels!r}")
    root = require_dir(root, "JAFFE")
    paths = image_files(root, (".tiff", ".tif"))
    if not paths:
        raise FileNotFoundError(f"{root}: no JAFFE .tiff images")
    entries = []
    for path in paths:
        match = FILE_PATTERN.match(path.name)
        if not match or match.group(2) not in EXPRESSIONS:
            raise format_error(path, "name does not follow JAFFE's SUBJECT.EXn.serial.tiff pattern")
        subject, code, index = match.group(1), match.group(2), match.group(3)
        entries.append((path, subject, EXPRESSIONS[code], f"{subject}-{code}{index}"))
    if labels == "ratings":
        ratings_path = next((root / n for n in RATINGS_FILES if (root / n).is_file()), None)
        if ratings_path is None:
            raise FileNotFoundError(f"{root / RATINGS_FILES[0]}: JAFFE semantic ratings not found")
        ratings = read_ratings(ratings_path)
        entries = [e for e in entries if e[3] in ratings]
    files = [e[0].name for e in entries]
    images = read_faces(root, files, size, desc="jaffe")
    if labels == "ratings":
        y, names, kind = np.stack([ratings[e[3]] for e in entries]).astype(np.float32), EMOTIONS6, "ratings"
    else:
        y, names, kind = np.array([BASIC7.index(e[2]) for e in entries], np.int64), BASIC7, "single"
    return FaceSet(
        name="jaffe",
        images=images,
        labels=y,
        class_names=names,
        files=files,
        label_kind=kind,
        subjects=[e[1] for e in entries],
        truth=read_truth(root, files),
    )


def write_jaffe(root, files, images, ratings, landmarks=None) -> None:
    """Write JAFFE images (``files`` from :func:`file_name`), the ratings table (``ratings``
    (n, 6) in EMOTIONS6 order) and, if given, the five-landmark sidecar."""
    root = Path(root)
    for name, im in zip(files, images):
        write_gray(root / name, im)
    columns = list(RATING_COLUMNS)
    lines = ["N " + " ".join(columns) + " PIC"]
    for i, (name, r) in enumerate(zip(files, ratings), 1):
        match = FILE_PATTERN.match(name)
        by_name = dict(zip(EMOTIONS6, r))
        values = " ".join(f"{by_name[RATING_COLUMNS[c]]:.2f}" for c in columns)
        lines.append(f"{i} {values} {match.group(1)}-{match.group(2)}{match.group(3)}")
    write_lines(root / RATINGS_FILES[0], lines)
    if landmarks is not None:
        write_landmarks5_sidecar(root, files, landmarks)
