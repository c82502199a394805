"""Loaders for the FER datasets in their own on-disk formats, real copies or synthetic ones.

Every loader returns a :class:`FaceSet` (uint8 faces, labels in ``fercore.labels`` orders, files,
splits, subjects, metadata, and the ground truth of a synthetic copy); ``FaceDataset(faceset)``
wraps it for PyTorch. :func:`locate` finds a dataset under a data root, :func:`load` does both::

    from fercore.datasets import load
    raf = load("rafdb", "data/default", subset="basic")      # synth-rafdb, or a real RAF-DB copy
    X, y = raf.subset(split="train").arrays()

A chapter that trains on RAF-DB basic can take a user's folder of class folders instead through
:func:`load_basic` (``source`` = ``"rafdb"`` or the folder's path; see :mod:`.folder`).
"""

from __future__ import annotations

import re
from pathlib import Path

from fercore.datasets.affectnet import load_affectnet
from fercore.datasets.base import DatasetFormatError, FaceSet
from fercore.datasets.ckplus import load_ckplus
from fercore.datasets.emotionet import load_emotionet
from fercore.datasets.fer2013 import load_fer2013
from fercore.datasets.folder import load_folder
from fercore.datasets.jaffe import load_jaffe
from fercore.datasets.mmi_oulu import load_mmi, load_oulu
from fercore.datasets.rafdb import load_crowd, load_rafdb
from fercore.datasets.rafml import load_rafml
from fercore.datasets.sfew import load_sfew
from fercore.labels import BASIC7

LOADERS = {
    "rafdb": load_rafdb,
    "rafml": load_rafml,
    "affectnet": load_affectnet,
    "fer2013": load_fer2013,
    "ckplus": load_ckplus,
    "jaffe": load_jaffe,
    "sfew": load_sfew,
    "emotionet": load_emotionet,
    "mmi": load_mmi,
    "oulu": load_oulu,
}
"""Dataset name -> loader; the synthetic copy of ``name`` lives in ``<data_root>/synth-<name>``."""

REAL_FOLDER_NAMES = {
    "rafdb": ("RAF-DB", "RAFDB", "RAF"),
    "rafml": ("RAF-ML", "RAFML"),
    "affectnet": ("AffectNet",),
    "fer2013": ("fer2013", "FER-2013"),
    "ckplus": ("CK+", "CKPlus", "CK"),
    "jaffe": ("jaffe", "jaffedbase"),
    "sfew": ("SFEW", "SFEW_2.0", "SFEW2"),
    "emotionet": ("EmotioNet",),
    "mmi": ("MMI",),
    "oulu": ("Oulu-CASIA", "OuluCASIA", "Oulu_CASIA"),
}
"""Folder names a real copy may have under the data root (matched ignoring case and punctuation)."""

__all__ = ["FaceSet", "FaceDataset", "LOADERS", "locate", "load", "load_basic", "load_crowd", "load_folder",
           *(f"load_{n}" for n in LOADERS)]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("+", "plus"))


def locate(data_root, name: str) -> Path:
    """The folder of dataset ``name`` under ``data_root``: a real copy (``RAF-DB``, ``CK+``...,
    any case) if there is one, else the synthetic ``synth-<name>``."""
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(LOADERS)}")
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data root not found (run `fercore data --profile <profile>`)")
    wanted = {_key(n) for n in REAL_FOLDER_NAMES[name]} | {_key(name)}
    real = sorted(p for p in root.iterdir() if p.is_dir() and _key(p.name) in wanted)
    if real:
        return real[0]
    synthetic = root / f"synth-{name}"
    if synthetic.is_dir():
        return synthetic
    tried = ", ".join([f"synth-{name}", *REAL_FOLDER_NAMES[name]])
    raise FileNotFoundError(f"{root}: no {name} dataset (looked for {tried}); "
                            "run `fercore data --profile <profile>` or copy the real dataset there")


def load(name: str, data_root, **kwargs) -> FaceSet:
    """Locate dataset ``name`` under ``data_root`` and load it (``kwargs`` go to its loader).

    A dataset that is missing, broken or empty raises, and is noted for the runner
    (:func:`fercore.results.note`): a chapter that catches the error and skips the dataset still
    ends as a failed run unless missing data was allowed.
    """
    from fercore.results import note

    try:
        folder = locate(data_root, name)
        faceset = LOADERS[name](folder, **kwargs)
        if len(faceset) == 0:
            raise DatasetFormatError(f"{folder}: no images loaded ({name}, {kwargs or 'default options'})")
    except (FileNotFoundError, DatasetFormatError) as error:
        note("missing", f"dataset {name}", str(error))
        raise
    return faceset


def load_basic(data_root, source: str = "rafdb", split: str | None = None, size: int = 100) -> FaceSet:
    """Seven basic classes (BASIC7, single labels, train/test splits) from RAF-DB basic under
    ``data_root`` (``source="rafdb"``), or from the folder of class folders at path ``source``
    (:func:`load_folder`: faces detected and aligned, landmarks cached in the folder)."""
    if source == "rafdb":
        return load("rafdb", data_root, subset="basic", split=split, size=size)
    if not Path(source).is_dir():
        raise FileNotFoundError(f"{source}: source must be 'rafdb' or the path of a folder of class folders")
    faces = load_folder(source, split=split, size=size)
    if faces.class_names != BASIC7:
        raise ValueError(f"{source}: a folder with classes {faces.class_names} cannot stand in for RAF-DB basic "
                         f"({BASIC7}); move the extra class folders out")
    return faces


def __getattr__(attr):
    if attr == "FaceDataset":  # imported lazily: torch is only needed by PyTorch users
        from fercore.datasets.torch_dataset import FaceDataset

        return FaceDataset
    raise AttributeError(f"module 'fercore.datasets' has no attribute {attr!r}")
