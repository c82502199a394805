"""The embedded data world: every synthetic dataset of a profile, materialized on disk.

``materialize(root, profile)`` writes ``<root>/synth-<name>`` for each dataset in its real
format (see :mod:`fercore.synth.writers`), with sizes from ``fercore/profiles.yaml``
(``<profile>.data``). It is

* idempotent: each dataset folder keeps a ``manifest.json`` (seed, the sizes it depends on, a
  hash of the generator's code); a folder whose manifest matches is left alone, so a second
  call is a fast no-op;
* atomic: a dataset is written into a temporary folder and renamed into place, so a crash never
  leaves a half-written dataset;
* deterministic: the same seed and sizes give byte-identical files. Each generation unit draws
  from its own seed, derived from ``seed`` and its name, so resizing one dataset leaves the
  others untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import zlib
from pathlib import Path

import yaml

from fercore.results import write_json_atomic

PACKAGE = Path(__file__).resolve().parents[1]
PROFILES_FILE = PACKAGE / "profiles.yaml"
MANIFEST = "manifest.json"
GENERATOR_SOURCES = ("synth/*.py", "datasets/*.py", "align.py", "crowd.py", "labels.py")
"""The code whose change regenerates the world (hashed into every manifest)."""

UNIT_SIZE_KEYS = {
    "raf": ("raf_tasks", "raf_workers", "raf_votes_per_task", "raf_spammer_fraction"),
    "affectnet": ("affectnet_train", "affectnet_val", "affectnet_flip_rate"),
    "fer2013": ("fer2013_images",),
    "ckplus": ("ckplus_subjects", "ckplus_frames"),
    "jaffe": ("jaffe_subjects", "jaffe_poses"),
    "sfew": ("sfew_train", "sfew_val"),
    "emotionet": ("emotionet_images", "emotionet_emotion_fraction"),
    "mmi": ("mmi_subjects", "mmi_sequences", "mmi_frames"),
    "oulu": ("oulu_subjects", "oulu_frames"),
}
"""Size keys of each generation unit (``<profile>.data`` in profiles.yaml)."""


def profile_sizes(profile: str) -> dict:
    """The ``data`` block of ``profile`` in ``fercore/profiles.yaml``."""
    profiles = yaml.safe_load(PROFILES_FILE.read_text())
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; {PROFILES_FILE} defines {sorted(profiles)}")
    sizes = profiles[profile].get("data")
    if not isinstance(sizes, dict):
        raise ValueError(f"{PROFILES_FILE}: profile {profile!r} has no 'data' block of dataset sizes")
    return sizes


def check_sizes(sizes: dict) -> dict:
    """Every size key present, no unknown keys."""
    known = {k for keys in UNIT_SIZE_KEYS.values() for k in keys}
    missing = sorted(known - set(sizes))
    unknown = sorted(set(sizes) - known)
    if missing or unknown:
        raise ValueError(f"dataset sizes: missing {missing}, unknown {unknown}; expected keys {sorted(known)}")
    return dict(sizes)


def code_hash() -> str:
    """SHA-256 over the generator's source files and the face model it reads."""
    digest = hashlib.sha256()
    files = sorted({p for pattern in GENERATOR_SOURCES for p in PACKAGE.glob(pattern)})
    for path in files:
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    with contextlib.suppress(ImportError, FileNotFoundError):
        from fercore.synth.mesh import MODEL_FILE, feat_resources_dir

        digest.update((feat_resources_dir() / MODEL_FILE).read_bytes())
    return digest.hexdigest()[:16]


def unit_seed(seed: int, unit: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(unit.encode())) % 2**32


def unit_key(unit: str, sizes: dict, seed: int, code: str) -> dict:
    return {"unit": unit, "seed": int(seed), "code": code, "sizes": {k: sizes[k] for k in UNIT_SIZE_KEYS[unit]}}


def _read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_current(root, unit: str, key: dict) -> bool:
    """True when every dataset of ``unit`` exists with a manifest matching ``key``."""
    from fercore.synth.writers import WRITERS

    for name in WRITERS[unit][0]:
        manifest = _read_manifest(Path(root) / f"synth-{name}")
        if manifest is None or {k: manifest.get(k) for k in key} != key:
            return False
    return True


def _count_images(folder: Path) -> int:
    suffixes = {".jpg", ".jpeg", ".png", ".tiff", ".tif"}
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in suffixes)


def generate_unit(root, unit: str, sizes: dict, seed: int, code: str) -> dict:
    """Write one generation unit into temporary folders, then swap them into place."""
    from fercore.synth.writers import WRITERS

    root = Path(root)
    names, writer = WRITERS[unit]
    staging = root / f".staging-{unit}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    folders = {name: staging / f"synth-{name}" for name in names}
    for folder in folders.values():
        folder.mkdir(parents=True)
    start = time.perf_counter()
    try:
        summary = writer(*folders.values(), sizes, unit_seed(seed, unit))
        seconds = time.perf_counter() - start
        key = unit_key(unit, sizes, seed, code)
        for name, folder in folders.items():
            write_json_atomic(folder / MANIFEST, {**key, "dataset": name, "summary": summary, "seconds": round(seconds, 2)})
        for name, folder in folders.items():
            final = root / f"synth-{name}"
            old = root / f".old-{name}-{os.getpid()}"
            if final.exists():
                final.rename(old)
            folder.rename(final)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"seconds": seconds, "summary": summary, "rendered": summary.get("rendered", summary.get("images", 0))}


@contextlib.contextmanager
def _locked(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def materialize(root, profile: str, seed: int = 0, sizes: dict | None = None) -> dict:
    """Make ``<root>/synth-*`` match ``profile``'s sizes (or ``sizes``) and ``seed``.

    Regenerates only the units whose manifest differs; returns the world manifest (also written
    to ``<root>/manifest.json``): profile, seed, code hash, per-dataset summaries and, for the
    units generated now, seconds and images per second.
    """
    from fercore.synth.writers import WRITERS

    root = Path(root)
    sizes = check_sizes(profile_sizes(profile) if sizes is None else sizes)
    code = code_hash()
    with _locked(root):
        for stale in root.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        previous = _read_manifest(root) or {}
        generated = {}
        for unit in WRITERS:
            key = unit_key(unit, sizes, seed, code)
            if not is_current(root, unit, key):
                generated[unit] = generate_unit(root, unit, sizes, seed, code)
        datasets = {}
        for unit, (names, _) in WRITERS.items():
            for name in names:
                manifest = _read_manifest(root / f"synth-{name}")
                datasets[name] = {"folder": f"synth-{name}", "seconds": manifest["seconds"],
                                  "summary": manifest["summary"].get(name, manifest["summary"])}
        if generated or previous.get("code") != code or previous.get("seed") != seed or previous.get("sizes") != sizes:
            rendered = sum(g["rendered"] for g in generated.values())
            seconds = sum(g["seconds"] for g in generated.values())
            world = {
                "profile": profile, "seed": int(seed), "code": code, "sizes": sizes, "datasets": datasets,
                "generated_now": sorted(generated),
                "images": sum(_count_images(root / f"synth-{n}") for n in datasets),
                "generation_seconds": round(seconds, 2) if generated else previous.get("generation_seconds"),
                "images_per_second": round(rendered / seconds, 1) if generated and seconds > 0
                else previous.get("images_per_second"),
            }
            write_json_atomic(root / MANIFEST, world)
            return world
        return previous


def load_manifest(root) -> dict:
    """The world manifest ``<root>/manifest.json`` written by :func:`materialize`."""
    manifest = _read_manifest(Path(root))
    if manifest is None:
        raise FileNotFoundError(f"{Path(root) / MANIFEST}: no synthetic world here (run `fercore data --profile <profile>`)")
    return manifest


def hog_svm_mean_diagonal(train, test, seed: int = 0) -> float:
    """Mean of the confusion-matrix diagonal of HOG + linear SVM (C by 3-fold CV) trained on
    FaceSet ``train`` and tested on ``test`` (RAF-DB's calibration baseline, its §3.2 and §5)."""
    from fercore import metrics
    from fercore.classifiers import SVMClassifier
    from fercore.features import HOGTransformer

    hog = HOGTransformer()
    svm = SVMClassifier(kernel="linear", C_grid=(0.0001, 0.001, 0.01), cv=3, seed=seed)
    svm.fit(hog.transform(train.images), train.labels)
    predicted = svm.predict(hog.transform(test.images))
    return metrics.mean_diagonal(test.labels, predicted, len(train.class_names))


def calibration(data_root, seed: int = 0, folds: int = 5) -> dict:
    """How hard the world is, by HOG + linear SVM over the 7 basic classes (mean diagonal):

    * ``lab``: CK+ peaks plus first frames as neutral, subject-independent ``folds``-fold CV
      (CK+ reported about 90%);
    * ``wild``: RAF-DB basic, trained on its train split, tested on its test split (58.5%).
    """
    import numpy as np
    from sklearn.model_selection import GroupKFold

    from fercore.datasets import load

    lab = load("ckplus", data_root, frames="first_and_peak")
    scores = []
    for train, test in GroupKFold(n_splits=folds).split(lab.images, lab.labels, lab.subjects):
        scores.append(hog_svm_mean_diagonal(lab.subset(train), lab.subset(test), seed))
    wild = load("rafdb", data_root, subset="basic")
    return {"lab": float(np.mean(scores)),
            "wild": hog_svm_mean_diagonal(wild.subset(split="train"), wild.subset(split="test"), seed)}
