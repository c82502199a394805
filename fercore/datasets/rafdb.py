"""RAF-DB (Li, Deng & Du, CVPR 2017): the basic and compound subsets in the released layout.

::

    basic/EmoLabel/list_patition_label.txt     train_00001.jpg 5      (1 Surprise ... 7 Neutral)
    basic/EmoLabel/distribution.txt            train_00001.jpg p1 ... p7   (7-dim, same order)
    basic/Image/aligned/train_00001_aligned.jpg                       (100 x 100)
    basic/Image/original/train_00001.jpg
    basic/Annotation/manual/train_00001_manu_attri.txt   5 lines "x<TAB>y", gender, race, age
    compound/...                               the same with train_0001.jpg names and labels 1..11

The label file's historical spelling ``list_patition_label.txt`` and ``list_partition_label.txt``
are both accepted. Landmarks in the attribute files are in original-image coordinates; a copy of
the originals without ``Annotation/manual`` is aligned from landmarks detected once and cached in
``Image/original/landmarks5.csv`` (:mod:`fercore.datasets.detected`). A synthetic copy also
carries ``crowd/`` (the raw votes, tasks and annotators) and ``truth.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fercore.datasets.base import (
    FaceSet,
    align_images,
    check_distribution,
    check_unique_names,
    first_existing,
    format_error,
    landmark_columns,
    landmarks_frame,
    parse_number,
    read_csv_checked,
    read_gray_or_rgb,
    read_images,
    read_named_vectors,
    read_rows,
    read_truth,
    require_dir,
    require_file,
    split_from_name,
    write_csv,
    write_image,
    write_lines,
)
from fercore.datasets.detected import detected_landmarks, warn_faceless
from fercore.labels import BASIC7, COMPOUND11
from fercore.progress import progress

SUBSETS = {"basic": BASIC7, "compound": COMPOUND11}
NAME_DIGITS = {"basic": 5, "compound": 4}
LABEL_FILES = ("list_patition_label.txt", "list_partition_label.txt")
DISTRIBUTION_FILES = ("distribution.txt", "distribution_basic.txt", "distribution_compound.txt")
GENDERS = ("male", "female", "unsure")
RACES = ("caucasian", "african-american", "asian")
AGES = ("0-3", "4-19", "20-39", "40-69", "70+")
CROWD_DIR = "crowd"


def image_name(split: str, number: int, subset: str = "basic") -> str:
    """``train_00001.jpg`` (basic) or ``train_0001.jpg`` (compound)."""
    return f"{split}_{number:0{NAME_DIGITS[subset]}d}.jpg"


def aligned_name(name: str) -> str:
    stem, _, suffix = name.rpartition(".")
    return f"{stem}_aligned.{suffix}"


def attribute_name(name: str) -> str:
    return f"{name.rpartition('.')[0]}_manu_attri.txt"


def read_label_file(path, n_classes: int):
    """``name code`` lines; codes 1..n_classes -> class indices 0..n_classes-1."""
    names, labels, lines = [], [], []
    for line, (name, code) in read_rows(path, n_fields=2):
        value = parse_number(code, path, line, int)
        if not 1 <= value <= n_classes:
            raise format_error(path, f"unknown label {code!r} (expected 1..{n_classes})", line)
        names.append(name)
        labels.append(value - 1)
        lines.append(line)
    if not names:
        raise format_error(path, "no labelled images (the file is empty)")
    check_unique_names(path, names, lines, [v + 1 for v in labels])
    return names, np.asarray(labels, np.int64)


def read_distribution_file(path, k: int = 7) -> dict:
    """``name p_1 ... p_k`` lines as ``{name: (k,) float}``; each row a probability distribution
    (finite, non-negative, summing to 1), each name once."""
    return read_named_vectors(path, k, lambda fields, line: check_distribution(
        [parse_number(v, path, line) for v in fields], path, line))


def read_attribute_file(path):
    """Five landmarks ``(5, 2)`` and the (gender, race, age) codes of one image."""
    rows = read_rows(require_file(path, "attribute file"))
    if len(rows) != 8:
        raise format_error(path, f"expected 5 landmark lines and gender, race, age (8 lines), found {len(rows)}")
    points = []
    for line, fields in rows[:5]:
        if len(fields) != 2:
            raise format_error(path, f"a landmark line needs x and y, found {fields}", line)
        points.append([parse_number(v, path, line) for v in fields])
    codes = []
    for (line, fields), names in zip(rows[5:], (GENDERS, RACES, AGES)):
        code = parse_number(fields[0], path, line, int)
        if not 0 <= code < len(names):
            raise format_error(path, f"attribute code {code} outside 0..{len(names) - 1}", line)
        codes.append(code)
    return np.asarray(points), codes


def read_attributes(folder, names) -> pd.DataFrame | None:
    """Landmarks and attributes of every image from ``Annotation/manual`` (None if absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    points, codes = [], []
    for name in progress(names, desc="attributes", unit="file"):
        p, c = read_attribute_file(folder / attribute_name(name))
        points.append(p.reshape(-1))
        codes.append(c)
    table = pd.DataFrame(np.asarray(points), columns=landmark_columns(5))
    codes = np.asarray(codes).reshape(-1, 3)
    table["gender"] = [GENDERS[c] for c in codes[:, 0]]
    table["race"] = [RACES[c] for c in codes[:, 1]]
    table["age"] = [AGES[c] for c in codes[:, 2]]
    return table


def check_split(split, split_of, where) -> None:
    """Refuse a split no image is in (RAF-DB and RAF-ML have ``train`` and ``test``, no ``val``)."""
    present = sorted(set(split_of))
    if split not in present:
        raise ValueError(f"{where}: no image in split {split!r}; the names give splits {present}")


def load_rafdb(root, subset: str = "basic", split: str | None = None, labels: str = "single",
               image: str = "aligned", size: int = 100, color: bool = False) -> FaceSet:
    """Load RAF-DB's ``basic`` (7 classes, BASIC7 order) or ``compound`` (COMPOUND11) subset.
    Images are grey unless ``color=True`` (RGB ``(n, size, size, 3)``; the files are colour).

    ``labels="single"`` gives class indices from the label file; ``"distribution"`` the 7-dim
    crowd distributions. ``image="original"`` reads the unaligned originals and aligns them from
    the manual landmarks with ``fercore.align`` (the aligned release is the default); without
    the manual annotation, from detected landmarks (images with no face found are left out, with
    a warning).
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {list(SUBSETS)}, got {subset!r}")
    if labels not in ("single", "distribution"):
        raise ValueError(f"labels must be 'single' or 'distribution', got {labels!r}")
    if image not in ("aligned", "original"):
        raise ValueError(f"image must be 'aligned' or 'original', got {image!r}")
    root = require_dir(root, "RAF-DB")
    base = require_dir(root / subset, f"RAF-DB {subset}")
    class_names = SUBSETS[subset]
    names, y = read_label_file(first_existing(base / "EmoLabel", LABEL_FILES, "RAF-DB label file"), len(class_names))
    split_of = np.array([split_from_name(n) for n in names], dtype=object)
    if split is not None:
        check_split(split, split_of, base / "EmoLabel")
        keep = split_of == split
        names, y, split_of = [n for n, k in zip(names, keep) if k], y[keep], split_of[keep]
    meta = read_attributes(base / "Annotation" / "manual", names)
    if image == "aligned":
        folder = require_dir(base / "Image" / "aligned", "RAF-DB aligned images")
        images = read_images([folder / aligned_name(n) for n in names], size=size, desc=f"rafdb {subset}",
                             color=color)
    else:
        folder = require_dir(base / "Image" / "original", "RAF-DB original images")
        if meta is None:
            found = detected_landmarks(folder, names)
            keep = np.array([found[n] is not None for n in names], bool)
            warn_faceless(folder, [n for n, k in zip(names, keep) if not k])
            names, y, split_of = [n for n, k in zip(names, keep) if k], y[keep], split_of[keep]
            meta = landmarks_frame(np.array([found[n] for n in names]).reshape(-1, 5, 2))
        raw = [read_gray_or_rgb(folder / n, color) for n in names]
        points = meta[landmark_columns(5)].to_numpy().reshape(-1, 5, 2)
        images = align_images(raw, points, size)
    if labels == "distribution":
        dist_path = first_existing(base / "EmoLabel", DISTRIBUTION_FILES, "RAF-DB distribution file")
        table = read_distribution_file(dist_path, len(BASIC7))
        missing = [n for n in names if n not in table]
        if missing:
            raise format_error(dist_path, f"no distribution for {len(missing)} image(s), e.g. {missing[0]!r}")
        y = np.stack([table[n] for n in names]).astype(np.float32) if names else np.zeros((0, 7), np.float32)
        class_names = BASIC7
    return FaceSet(
        name=f"rafdb-{subset}",
        images=images,
        labels=y,
        class_names=class_names,
        files=names,
        split=split_of,
        label_kind="single" if labels == "single" else "distribution",
        meta=meta,
        truth=read_truth(root, [f"{subset}/{n}" for n in names]),
    )


def write_rafdb_subset(root, subset: str, names, labels, aligned, distributions=None, landmarks=None,
                       attributes=None, originals=None) -> None:
    """Write one RAF-DB subset: label file, aligned images, and the optional distribution,
    attribute (landmarks + gender/race/age codes) and original-image files."""
    base = Path(root) / subset
    write_lines(base / "EmoLabel" / LABEL_FILES[0], [f"{n} {int(c) + 1}" for n, c in zip(names, labels)])
    for name, im in zip(names, aligned):
        write_image(base / "Image" / "aligned" / aligned_name(name), im)
    if originals is not None:
        for name, im in zip(names, originals):
            write_image(base / "Image" / "original" / name, im)
    if distributions is not None:
        write_lines(base / "EmoLabel" / DISTRIBUTION_FILES[0],
                    [f"{n} " + " ".join(f"{p:.4f}" for p in d) for n, d in zip(names, distributions)])
    if landmarks is not None:
        write_attribute_files(base / "Annotation" / "manual", names, landmarks, attributes)


def write_attribute_files(folder, names, landmarks, attributes) -> None:
    """One ``*_manu_attri.txt`` per image: five "x<TAB>y" lines, then gender, race, age codes."""
    for name, points, codes in zip(names, landmarks, attributes):
        lines = [f"{x:.2f}\t{y:.2f}" for x, y in points] + [str(int(c)) for c in codes]
        write_lines(Path(folder) / attribute_name(name), lines)


@dataclass
class CrowdVotes:
    """The raw crowd annotation of a synthetic RAF copy.

    ``votes``: (task, worker, label) with label a BASIC7 index; ``tasks``: one row per task
    (true distribution, difficulty, the file each subset gave it, if any); ``workers``: the
    simulated annotators' true reliabilities.
    """

    votes: pd.DataFrame
    tasks: pd.DataFrame
    workers: pd.DataFrame


def load_crowd(root) -> CrowdVotes:
    """Read ``crowd/votes.csv``, ``crowd/tasks.csv`` and ``crowd/workers.csv`` of a synthetic RAF copy."""
    folder = require_dir(Path(root) / CROWD_DIR, "crowd annotation (only synthetic copies have it)")
    votes = read_csv_checked(folder / "votes.csv", ["task", "worker", "label"], "vote table")
    bad = ~votes["label"].isin(range(len(BASIC7)))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise format_error(folder / "votes.csv", f"unknown label {votes['label'].iloc[row]!r}", row + 2)
    tasks = read_csv_checked(folder / "tasks.csv", ["task"], "task table")
    workers = read_csv_checked(folder / "workers.csv", ["worker"], "worker table")
    return CrowdVotes(votes, tasks, workers)


def write_crowd(root, crowd: CrowdVotes) -> None:
    folder = Path(root) / CROWD_DIR
    write_csv(folder / "votes.csv", crowd.votes)
    write_csv(folder / "tasks.csv", crowd.tasks)
    write_csv(folder / "workers.csv", crowd.workers)
