"""Lab sequence datasets: Oulu-CASIA (Zhao et al. 2011) and MMI (Pantic et al. 2005; Valstar & Pantic 2010).

Oulu-CASIA's cropped release::

    VL/Strong/P001/Anger/000.jpeg ... 0NN.jpeg     (neutral first, peak last; also under OriginalImg/)

Classes Anger Disgust Fear Happiness Sadness Surprise. MMI ships videos with XML metadata; this
package reads frames extracted from them::

    Sessions/<session>/000.png ...                  (aligned faces, neutral first)
    mmi_labels.csv   session, subject, emotion, peak_frames   (emotion: MMI code 1 Anger, 2 Disgust,
                     3 Fear, 4 Happiness, 5 Sadness, 6 Surprise; peak_frames "8;9;10", the frame
                     numbers in the image names)

Both give six classes in EMOTIONS6 order, subjects for subject-independent folds, and sequence /
frame columns in ``meta``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fercore.datasets.base import (
    IMAGE_SUFFIXES,
    FaceSet,
    check_unique_names,
    class_folders,
    csv_line,
    format_error,
    image_files,
    read_csv_checked,
    read_images,
    read_truth,
    require_dir,
    write_csv,
    write_gray,
)
from fercore.labels import EMOTIONS6

OULU_FOLDERS = {"Anger": "anger", "Disgust": "disgust", "Fear": "fear", "Happiness": "happiness",
                "Sadness": "sadness", "Surprise": "surprise"}
OULU_FRAMES = ("last3", "peak", "first_and_peak", "all")
MMI_CODES = {1: "anger", 2: "disgust", 3: "fear", 4: "happiness", 5: "sadness", 6: "surprise"}
MMI_LABELS = "mmi_labels.csv"


def _oulu_base(root: Path) -> Path:
    for base in (root / "VL" / "Strong", root / "OriginalImg" / "VL" / "Strong"):
        if base.is_dir():
            return base
    raise FileNotFoundError(f"{root / 'VL' / 'Strong'}: Oulu-CASIA visible-light, strong-illumination folder not found")


def _sequence_faceset(name: str, root: Path, rows: list, meta: dict, size: int) -> FaceSet:
    """A FaceSet of sequence frames from ``(path, subject, emotion, ...)`` rows, with ``meta``'s
    columns (one value per row) as its metadata."""
    files = [str(p.relative_to(root)) for p, *_ in rows]
    return FaceSet(
        name=name,
        images=read_images([p for p, *_ in rows], size=size, desc=name),
        labels=np.array([EMOTIONS6.index(r[2]) for r in rows], np.int64),
        class_names=EMOTIONS6,
        files=files,
        subjects=[r[1] for r in rows],
        meta=pd.DataFrame(meta),
        truth=read_truth(root, files),
    )


def load_oulu(root, frames: str = "last3", size: int = 100) -> FaceSet:
    """Load Oulu-CASIA's VL/Strong sequences.

    ``frames``: ``"last3"`` (the last three frames of each sequence, the usual protocol),
    ``"peak"``, ``"first_and_peak"`` (first frame labelled by its sequence too: Oulu has no
    neutral class) or ``"all"``. Labels over EMOTIONS6.
    """
    if frames not in OULU_FRAMES:
        raise ValueError(f"frames must be one of {OULU_FRAMES}, got {frames!r}")
    root = require_dir(root, "Oulu-CASIA")
    base = _oulu_base(root)
    rows = []
    for subject_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for class_dir in class_folders(subject_dir, OULU_FOLDERS):
            paths = image_files(class_dir, IMAGE_SUFFIXES)
            n = len(paths)
            picks = {"last3": range(max(n - 3, 0), n), "peak": [n - 1], "first_and_peak": [0, n - 1],
                     "all": range(n)}[frames] if n else []
            for i in picks:
                rows.append((paths[i], subject_dir.name, OULU_FOLDERS[class_dir.name], i, n))
    meta = {"sequence": [f"{r[1]}/{r[2]}" for r in rows], "frame": [r[3] for r in rows],
            "n_frames": [r[4] for r in rows]}
    return _sequence_faceset("oulu", root, rows, meta, size)


def oulu_path(subject: str, emotion: str, frame: int) -> str:
    folder = {v: k for k, v in OULU_FOLDERS.items()}[emotion]
    return f"VL/Strong/{subject}/{folder}/{frame:03d}.jpeg"


def write_oulu_sequence(root, subject: str, emotion: str, frames) -> list:
    """Write one sequence (neutral first, peak last); returns the relative frame paths."""
    paths = [oulu_path(subject, emotion, i) for i in range(len(frames))]
    for path, im in zip(paths, frames):
        write_gray(Path(root) / path, im)
    return paths


def session_frames(folder: Path) -> dict:
    """``{frame number: path}`` of a session's images, the number read from the name (``008.png`` is
    frame 8), so a missing frame never shifts the others."""
    out = {}
    for path in image_files(folder, IMAGE_SUFFIXES):
        if not path.stem.isdigit():
            raise format_error(path, "MMI frame names must be frame numbers (000.png, 001.png, ...)")
        number = int(path.stem)
        if number in out:
            raise format_error(path, f"frame {number} also stored as {out[number].name}")
        out[number] = path
    return out


def load_mmi(root, frames: str = "peaks", size: int = 100) -> FaceSet:
    """Load MMI sessions: ``frames="peaks"`` (the annotated peak frames, three per sequence in the
    RAF-ML protocol) or ``"all"``. Labels over EMOTIONS6."""
    if frames not in ("peaks", "all"):
        raise ValueError(f"frames must be 'peaks' or 'all', got {frames!r}")
    root = require_dir(root, "MMI")
    path = root / MMI_LABELS
    table = read_csv_checked(path, ["session", "subject", "emotion", "peak_frames"], "MMI labels",
                             dtype={"session": str, "subject": str, "peak_frames": str})
    if table.empty:
        raise format_error(path, "no sessions after the header")
    check_unique_names(path, table["session"].tolist(), [csv_line(i) for i in range(len(table))], what="session")
    rows = []
    for i, row in enumerate(table.itertuples(index=False)):
        code = pd.to_numeric(row.emotion, errors="coerce")
        if code not in MMI_CODES:
            raise format_error(path, f"unknown emotion code {row.emotion!r} (MMI codes 1..6)", csv_line(i))
        session_dir = require_dir(root / "Sessions" / row.session, "MMI session")
        numbered = session_frames(session_dir)
        try:
            peaks = {int(v) for v in str(row.peak_frames).split(";") if v.strip()}
        except ValueError:
            message = f"peak_frames {row.peak_frames!r} is not ';'-separated frame numbers"
            raise format_error(path, message, csv_line(i)) from None
        absent = sorted(p for p in peaks if p not in numbered)
        if absent:
            raise format_error(path, f"peak frame {absent[0]} has no image in {session_dir} "
                                     f"(frames there: {sorted(numbered)})", csv_line(i))
        for k, frame_path in sorted(numbered.items()):
            if frames == "all" or k in peaks:
                rows.append((frame_path, row.subject, MMI_CODES[int(code)], row.session, k, k in peaks))
    meta = {"sequence": [r[3] for r in rows], "frame": [r[4] for r in rows], "is_peak": [r[5] for r in rows]}
    return _sequence_faceset("mmi", root, rows, meta, size)


def write_mmi(root, sessions, subjects, emotions, peak_frames, frames) -> list:
    """Write MMI sessions (``frames[i]`` the i-th session's images) and ``mmi_labels.csv``;
    returns the relative frame paths."""
    root = Path(root)
    codes = {v: k for k, v in MMI_CODES.items()}
    files = []
    for session, images in zip(sessions, frames):
        for k, im in enumerate(images):
            files.append(f"Sessions/{session}/{k:03d}.png")
            write_gray(root / files[-1], im)
    write_csv(root / MMI_LABELS, pd.DataFrame({
        "session": list(sessions), "subject": list(subjects), "emotion": [codes[e] for e in emotions],
        "peak_frames": [";".join(str(p) for p in peaks) for peaks in peak_frames],
    }))
    return files
