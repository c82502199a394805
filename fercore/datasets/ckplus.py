"""CK+ (Lucey et al. 2010): posed sequences from neutral to peak, in the released layout.

::

    cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    Emotion/S005/001/S005_001_00000011_emotion.txt      "   3.0000000e+00"  (labelled sequences only)
    Landmarks/S005/001/S005_001_00000001_landmarks.txt  one "   x   y" line per point
    FACS/S005/001/S005_001_00000011_facs.txt            "   AU   intensity" lines (peak frame)

Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise;
the label belongs to the sequence's last (peak) frame. Frames are aligned from their landmarks
(68 points in the release; a synthetic copy stores the 5 the aligner uses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fercore.datasets.base import (
    FaceSet,
    align_images,
    as_landmarks5,
    format_error,
    parse_number,
    read_gray,
    read_rows,
    read_truth,
    require_dir,
    require_file,
    write_gray,
    write_lines,
)
from fercore.labels import AUS, BASIC7, CONTEMPT
from fercore.progress import progress

IMAGE_DIR = "cohn-kanade-images"
CODE_NAMES = ("neutral", "anger", CONTEMPT, "disgust", "fear", "happiness", "sadness", "surprise")
"""CK+'s emotion codes 0..7 as names."""
CLASS_SETS = {"basic7": BASIC7, "basic8": BASIC7 + (CONTEMPT,)}
FRAMES = ("peak", "first_and_peak", "all")


def frame_name(subject: str, sequence: str, frame: int) -> str:
    return f"{subject}_{sequence}_{frame:08d}"


def read_code_file(path) -> float:
    rows = read_rows(path)
    if len(rows) != 1 or len(rows[0][1]) != 1:
        raise format_error(path, "expected one number")
    return parse_number(rows[0][1][0], path, rows[0][0])


def read_landmarks_file(path) -> np.ndarray:
    rows = read_rows(require_file(path, "CK+ landmark file"), n_fields=2)
    points = np.array([[parse_number(v, path, line) for v in fields] for line, fields in rows])
    return as_landmarks5(points, path)


def read_facs_file(path) -> dict:
    """``{AU: intensity}`` of a FACS file (intensity 0 = present, not scored)."""
    return {parse_number(a, path, line, int): parse_number(i, path, line)
            for line, (a, i) in read_rows(path, n_fields=2)}


def _sequences(root: Path):
    """Labelled sequences ``(subject, sequence, peak_frame, code, emotion_file)`` in sorted order."""
    emotion_dir = require_dir(root / "Emotion", "CK+ emotion labels")
    out = []
    for path in sorted(emotion_dir.glob("S*/*/*_emotion.txt")):
        subject, sequence = path.parent.parent.name, path.parent.name
        code = read_code_file(path)
        if code != int(code) or not 0 <= code < len(CODE_NAMES):
            raise format_error(path, f"unknown emotion code {code} (expected 0..7)", 1)
        peak = int(path.name.split("_")[2])
        out.append((subject, sequence, peak, int(code), path))
    return out


def load_ckplus(root, frames: str = "peak", classes: str = "basic7", labels: str = "emotion",
                size: int = 100) -> FaceSet:
    """Load CK+'s labelled sequences.

    ``frames``: ``"peak"`` (the last frame of each labelled sequence), ``"first_and_peak"`` (also
    its first frame, labelled neutral — the usual 7-class protocol with neutral), or ``"all"``
    (every frame, each labelled with its sequence's emotion; ``meta`` tells the frame and the peak).
    ``classes="basic7"`` drops contempt sequences; ``"basic8"`` keeps them.
    ``labels="au"`` (with ``frames="peak"``) gives the FACS-coded AUs as a binary ``(n, 20)``
    matrix over ``fercore.labels.AUS``.
    """
    if frames not in FRAMES:
        raise ValueError(f"frames must be one of {FRAMES}, got {frames!r}")
    if classes not in CLASS_SETS:
        raise ValueError(f"classes must be one of {list(CLASS_SETS)}, got {classes!r}")
    if labels not in ("emotion", "au") or (labels == "au" and frames != "peak"):
        raise ValueError(f"labels must be 'emotion', or 'au' with frames='peak'; "
                         f"got labels={labels!r}, frames={frames!r}")
    root = require_dir(root, "CK+")
    image_dir = require_dir(root / IMAGE_DIR, "CK+ images")
    class_names = CLASS_SETS[classes]
    rows = []
    for subject, sequence, peak, code, emotion_path in _sequences(root):
        name = CODE_NAMES[code]
        if name not in class_names:
            continue
        if frames == "peak":
            picks = [(peak, name)]
        elif frames == "first_and_peak":
            picks = [(1, "neutral"), (peak, name)]
        else:
            picks = [(f, name) for f in range(1, peak + 1)]
        for frame, label in picks:
            rows.append({"subject": subject, "sequence": f"{subject}/{sequence}", "frame": frame, "peak_frame": peak,
                         "label": label, "emotion_file": emotion_path})
    raw, points = [], []
    for row in progress(rows, desc="ck+", unit="img"):
        stem = frame_name(row["subject"], row["sequence"].split("/")[1], row["frame"])
        raw.append(read_gray(image_dir / row["sequence"] / f"{stem}.png"))
        points.append(read_landmarks_file(root / "Landmarks" / row["sequence"] / f"{stem}_landmarks.txt"))
    images = (align_images(raw, np.asarray(points).reshape(-1, 5, 2), size) if rows
              else np.zeros((0, size, size), np.uint8))
    files = [f"{r['sequence']}/{frame_name(r['subject'], r['sequence'].split('/')[1], r['frame'])}.png" for r in rows]
    meta = pd.DataFrame([{k: r[k] for k in ("sequence", "frame", "peak_frame")} for r in rows],
                        columns=["sequence", "frame", "peak_frame"])
    if labels == "au":
        y = np.zeros((len(rows), len(AUS)), np.float32)
        for i, r in enumerate(rows):
            stem = frame_name(r["subject"], r["sequence"].split("/")[1], r["peak_frame"])
            path = require_file(root / "FACS" / r["sequence"] / f"{stem}_facs.txt", "CK+ FACS file")
            for au in read_facs_file(path):
                if au in AUS:
                    y[i, AUS.index(au)] = 1.0
        names, kind = tuple(f"AU{a}" for a in AUS), "au"
    else:
        y = np.array([class_names.index(r["label"]) for r in rows], np.int64)
        names, kind = class_names, "single"
    return FaceSet(
        name="ckplus",
        images=images,
        labels=y,
        class_names=names,
        files=files,
        label_kind=kind,
        subjects=[r["subject"] for r in rows],
        meta=meta,
        truth=read_truth(root, files),
    )


def _number_line(*values) -> str:
    return "".join(f"   {v:.7e}" for v in values)


def write_ckplus_sequence(root, subject: str, sequence: str, frames, landmarks, emotion: str | None,
                          facs: dict | None = None) -> list:
    """Write one CK+ sequence (frames 1..n, the last is the peak) and return its frame files.

    ``landmarks`` (n, k, 2) per frame; ``emotion`` a name from :data:`CODE_NAMES` or None for an
    unlabelled sequence; ``facs`` ``{AU: intensity code}`` for the peak frame.
    """
    root = Path(root)
    files = []
    for i, (image, points) in enumerate(zip(frames, landmarks), 1):
        stem = frame_name(subject, sequence, i)
        write_gray(root / IMAGE_DIR / subject / sequence / f"{stem}.png", image)
        write_lines(root / "Landmarks" / subject / sequence / f"{stem}_landmarks.txt",
                    [_number_line(x, y) for x, y in points])
        files.append(f"{subject}/{sequence}/{stem}.png")
    peak = frame_name(subject, sequence, len(frames))
    if emotion is not None:
        write_lines(root / "Emotion" / subject / sequence / f"{peak}_emotion.txt",
                    [_number_line(CODE_NAMES.index(emotion))])
    if facs is not None:
        write_lines(root / "FACS" / subject / sequence / f"{peak}_facs.txt",
                    [_number_line(au, intensity) for au, intensity in sorted(facs.items())])
    return files
