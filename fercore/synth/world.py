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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

from fercore.results import write_json_atomic
from fercore.synth import parallel

PACKAGE = Path(__file__).resolve().parents[1]
PROFILES_FILE = PACKAGE / "profiles.yaml"
MANIFEST = "manifest.json"
GENERATOR_SOURCES = ("synth/*.py", "datasets/*.py", "align.py", "crowd.py", "ground_truth.py", "labels.py")
"""The code whose change regenerates the world (hashed into every manifest; this module excepted)."""

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
    files = sorted({p for pattern in GENERATOR_SOURCES for p in PACKAGE.glob(pattern)} - {Path(__file__).resolve()})
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


def file_listing(folder: Path) -> dict:
    """``{relative path: [size, sha256]}`` of a dataset folder's files (its manifest excepted)."""
    folder = Path(folder)
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        with open(path, "rb") as f:
            out[str(path.relative_to(folder))] = [path.stat().st_size, hashlib.file_digest(f, "sha256").hexdigest()]
    return out


def listing_changes(folder: Path, listing: dict, verify: bool = False) -> str:
    """What differs between a dataset folder and the listing its manifest recorded: files
    removed, added or of another size (and, with ``verify``, of other content); '' if none."""
    folder = Path(folder)
    present = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST}
    removed = sorted(set(listing) - set(present))
    added = sorted(set(present) - set(listing))
    changed = [f for f in sorted(set(listing) & set(present)) if present[f].stat().st_size != listing[f][0]]
    if verify and not changed:
        for f in sorted(set(listing) & set(present)):
            with open(present[f], "rb") as handle:
                if hashlib.file_digest(handle, "sha256").hexdigest() != listing[f][1]:
                    changed.append(f)
    parts = [f"{len(files)} file(s) {what}, e.g. {folder / files[0]}"
             for files, what in ((removed, "removed"), (added, "added"), (changed, "changed")) if files]
    return "; ".join(parts)


def unit_changes(root, unit: str, key: dict, verify: bool = False) -> str | None:
    """None when every dataset of ``unit`` exists with a manifest matching ``key`` and its files
    as generated; else why it must be generated again ('' when it was never generated)."""
    from fercore.synth.writers import WRITERS

    reasons = []
    for name in WRITERS[unit][0]:
        manifest = _read_manifest(Path(root) / f"synth-{name}")
        if manifest is None or {k: manifest.get(k) for k in key} != key or "files" not in manifest:
            return ""
        changes = listing_changes(Path(root) / f"synth-{name}", manifest["files"], verify)
        if changes:
            reasons.append(changes)
    return "; ".join(reasons) or None


def is_current(root, unit: str, key: dict, verify: bool = False) -> bool:
    """True when every dataset of ``unit`` exists with a manifest matching ``key`` and the files
    it recorded (sizes; contents too with ``verify``)."""
    return unit_changes(root, unit, key, verify) is None


def _count_images(folder: Path) -> int:
    suffixes = {".jpg", ".jpeg", ".png", ".tiff", ".tif"}
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in suffixes)


def generate_unit(root, unit: str, sizes: dict, seed: int, code: str, workers: int | None = None) -> dict:
    """Write one generation unit into temporary folders, then swap them into place; it renders
    with ``workers`` threads (default :func:`fercore.synth.parallel.n_workers`)."""
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
        with parallel.using(workers):
            summary = writer(*folders.values(), sizes, unit_seed(seed, unit))
        seconds = time.perf_counter() - start
        key = unit_key(unit, sizes, seed, code)
        for name, folder in folders.items():
            write_json_atomic(folder / MANIFEST, {**key, "dataset": name, "summary": summary,
                                                  "seconds": round(seconds, 2), "files": file_listing(folder)})
        for name, folder in folders.items():
            final = root / f"synth-{name}"
            old = root / f".old-{name}-{os.getpid()}"
            if final.exists():
                final.rename(old)
            folder.rename(final)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


@contextlib.contextmanager
def _locked(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unit_processes(workers: int) -> int:
    """Generation units run side by side, each in its own process: one at a time on up to two
    workers (rendering, the bulk of a unit, already uses every worker), else half the workers, at
    most 4, each rendering with its share of the workers."""
    return 1 if workers <= 2 else min(4, workers // 2)


def materialize(root, profile: str, seed: int = 0, sizes: dict | None = None, workers: int | None = None,
                verify: bool = False) -> dict:
    """Make ``<root>/synth-*`` match ``profile``'s sizes (or ``sizes``) and ``seed``.

    Regenerates only the units whose manifest differs, on ``workers`` cores (default
    :func:`fercore.synth.parallel.n_workers`: ``$FERCORE_WORKERS``, else every core; split
    between unit processes, :func:`unit_processes`, and rendering threads). The files do not
    depend on ``workers``. Returns the world manifest (also written to ``<root>/manifest.json``,
    see :func:`world_summary`) with ``generated_now``, the units this call regenerated, and
    ``repaired``, ``{unit: what changed}`` for those regenerated because files were added,
    removed or changed after generation (sizes; contents too with ``verify``).
    """
    from fercore.synth.writers import WRITERS

    root = Path(root)
    sizes = check_sizes(profile_sizes(profile) if sizes is None else sizes)
    code = code_hash()
    with _locked(root):
        for stale in root.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        changes = {unit: unit_changes(root, unit, unit_key(unit, sizes, seed, code), verify) for unit in WRITERS}
        generated = [unit for unit, change in changes.items() if change is not None]
        repaired = {unit: change for unit, change in changes.items() if change}
        workers = parallel.n_workers(workers)
        processes = min(unit_processes(workers), len(generated)) or 1
        threads = max(1, workers // processes)
        if processes == 1:
            for unit in generated:
                generate_unit(root, unit, sizes, seed, code, threads)
        else:
            with ProcessPoolExecutor(processes) as pool:
                for done in [pool.submit(generate_unit, root, unit, sizes, seed, code, threads) for unit in generated]:
                    done.result()
        previous = _read_manifest(root) or {}
        same = {"profile": profile, "seed": int(seed), "sizes": sizes, "code": code}
        if not generated and all(previous.get(k) == v for k, v in same.items()):
            return {**previous, "generated_now": [], "repaired": {}}
        world = {**world_summary(root, profile, seed, sizes, code), "generated_now": generated, "repaired": repaired}
        write_json_atomic(root / MANIFEST, world)
        return world


def world_summary(root, profile, seed, sizes, code) -> dict:
    """The world manifest from the datasets' own manifests: what each holds, and the generation
    time and speed (faces rendered per second, the whole pipeline) summed over the units."""
    from fercore.synth.writers import WRITERS

    root = Path(root)
    datasets, seconds, rendered = {}, 0.0, 0
    for names, _ in WRITERS.values():
        for name in names:
            manifest = _read_manifest(root / f"synth-{name}")
            datasets[name] = {"folder": f"synth-{name}", "seconds": manifest["seconds"],
                              "summary": manifest["summary"].get(name, manifest["summary"])}
        seconds += manifest["seconds"]
        rendered += manifest["summary"].get("rendered", manifest["summary"].get("images", 0))
    return {
        "profile": profile, "seed": int(seed), "code": code, "sizes": sizes, "datasets": datasets,
        "images": sum(_count_images(root / f"synth-{n}") for n in datasets),
        "faces_rendered": rendered, "generation_seconds": round(seconds, 1),
        "images_per_second": round(rendered / seconds, 1) if seconds > 0 else None,
    }


def load_manifest(root) -> dict:
    """The world manifest ``<root>/manifest.json`` written by :func:`materialize`."""
    manifest = _read_manifest(Path(root))
    if manifest is None:
        raise FileNotFoundError(f"{Path(root) / MANIFEST}: no synthetic world here "
                                "(run `fercore data --profile <profile>`)")
    return manifest


def hog_svm_predictions(train, test, seed: int = 0):
    """Predictions of HOG + linear SVM (C by 3-fold CV) trained on FaceSet ``train`` for ``test``
    (RAF-DB's handcrafted baseline, its §5: 4,000-d HOG, multi-class SVM)."""
    from fercore.classifiers import SVMClassifier
    from fercore.features import HOGTransformer

    hog = HOGTransformer()
    svm = SVMClassifier(kernel="linear", C_grid=(0.0001, 0.001, 0.01), cv=3, seed=seed)
    svm.fit(hog.transform(train.images), train.labels)
    return svm.predict(hog.transform(test.images))


def calibration(data_root, seed: int = 0, folds: int = 5) -> dict:
    """How hard the world is, by HOG + linear SVM over the 7 basic classes, scored by the mean of
    the confusion-matrix diagonal (RAF-DB Table 3):

    * ``lab``: CK+ peaks plus first frames as neutral, subject-independent ``folds``-fold CV
      (RAF-DB Table 3: 90.50% on CK+);
    * ``wild``: RAF-DB basic, trained on its train split, tested on its test split (58.45%).

    Returns both scores (fractions) and, under ``"true"`` / ``"predicted"``, the labels behind them.
    """
    import numpy as np
    from sklearn.model_selection import GroupKFold

    from fercore import metrics
    from fercore.datasets import load
    from fercore.labels import BASIC7

    lab = load("ckplus", data_root, frames="first_and_peak")
    lab_predicted = np.empty_like(lab.labels)
    for train, test in GroupKFold(n_splits=folds).split(lab.images, lab.labels, lab.subjects):
        lab_predicted[test] = hog_svm_predictions(lab.subset(train), lab.subset(test), seed)
    wild = load("rafdb", data_root, subset="basic")
    wild_test = wild.subset(split="test")
    wild_predicted = hog_svm_predictions(wild.subset(split="train"), wild_test, seed)
    true = {"lab": lab.labels, "wild": wild_test.labels}
    predicted = {"lab": lab_predicted, "wild": wild_predicted}
    scores = {k: metrics.mean_diagonal(true[k], predicted[k], len(BASIC7)) for k in true}
    return {**scores, "true": true, "predicted": predicted}


CATALOGUE = {
    "rafdb": ("RAF-DB", "wild", "basic/ and compound/: EmoLabel/list_patition_label.txt, distribution.txt; "
              "Image/aligned/*_aligned.jpg, Image/original/; Annotation/manual/*_manu_attri.txt",
              "7 basic or 11 compound classes by crowd EM; 7-dim distributions; votes in crowd/"),
    "rafml": ("RAF-ML", "wild", "EmoLabel/distribution.txt, multilabel.txt; Image/aligned/; Annotation/manual/",
              "2-4 of 6 emotions by crowd EM; 6-dim distributions"),
    "affectnet": ("AffectNet", "wild", "Manually_Annotated_file_lists/training.csv, validation.csv; "
                  "Manually_Annotated_Images/ (unaligned, face box + landmarks)",
                  "8 classes, AffectNet's imbalance, one annotator with flips; valence, arousal"),
    "fer2013": ("FER2013", "wild", "fer2013.csv (emotion, pixels, Usage), 48 x 48", "7 classes"),
    "ckplus": ("CK+", "lab", "cohn-kanade-images/Sxxx/yyy/*.png; Emotion/, Landmarks/, FACS/",
               "posed sequences neutral to peak; 7 emotions incl. contempt; FACS AUs at the peak"),
    "jaffe": ("JAFFE", "lab", "KA.AN1.39.tiff; semantic_ratings.txt; landmarks5.csv",
              "posed 7 classes; 1-5 ratings of 6"),
    "sfew": ("SFEW 2.0", "film", "Train/<Class>/*.png, Val/<Class>/*.png (aligned faces)", "7 classes"),
    "emotionet": ("EmotioNet", "wild", "images/; au_labels.csv (0/1/999); emotion_labels.csv",
                  "12 AUs for all; basic or compound emotion for a subset"),
    "mmi": ("MMI", "lab + accessories", "Sessions/<id>/NNN.png; mmi_labels.csv",
            "onset-apex-offset sequences, 6 classes"),
    "oulu": ("Oulu-CASIA", "lab", "VL/Strong/Pnnn/<Class>/NNN.jpeg", "sequences neutral to peak, 6 classes"),
}
"""Per synthetic dataset: the real dataset it mimics, its domain, on-disk layout and labels."""

PLANNED_IMAGES = {
    "rafdb": lambda s: s["raf_tasks"],
    "rafml": lambda s: s["raf_tasks"],
    "affectnet": lambda s: s["affectnet_train"] + s["affectnet_val"],
    "fer2013": lambda s: s["fer2013_images"],
    "ckplus": lambda s: round(s["ckplus_subjects"] * 327 / 123) * s["ckplus_frames"],
    "jaffe": lambda s: s["jaffe_subjects"] * 7 * s["jaffe_poses"],
    "sfew": lambda s: s["sfew_train"] + s["sfew_val"],
    "emotionet": lambda s: s["emotionet_images"],
    "mmi": lambda s: s["mmi_sequences"] * s["mmi_frames"],
    "oulu": lambda s: s["oulu_subjects"] * 6 * s["oulu_frames"],
}
"""Faces generated per dataset for given sizes (RAF-DB and RAF-ML: crowd tasks, before EM)."""


def catalogue(profiles=("smoke", "default", "full")):
    """The world dataset by dataset: real counterpart, domain, layout, labels, and the faces
    generated in each profile (RAF-DB / RAF-ML: crowd-annotated faces before EM selection)."""
    import pandas as pd

    table = pd.DataFrame(CATALOGUE, index=["mimics", "domain", "layout", "labels"]).T
    for p in profiles:
        table[f"faces ({p})"] = [int(PLANNED_IMAGES[name](profile_sizes(p))) for name in table.index]
    table.index = [f"synth-{name}" for name in table.index]
    return table


def identity_sheet(seed: int = 0, size: int = 100) -> dict:
    """One identity shown four ways, ``{row: (images, captions)}``: the eight expression
    prototypes (lab), single action units at intensity 1, head pose, and light direction."""
    import numpy as np

    from fercore.labels import AUS
    from fercore.synth.expressions import EXPRESSIONS, prototype_matrix
    from fercore.synth.identity import sample_identities
    from fercore.synth.nuisance import sample_nuisance
    from fercore.synth.render import render_faces

    rng = np.random.default_rng(seed)
    person = sample_identities(1, rng)
    shown_aus = (1, 2, 4, 5, 6, 9, 12, 15, 20, 26)
    yaws = (-40, -25, -10, 0, 10, 25, 40)
    lights = ((-0.9, -0.2), (-0.5, -0.5), (0.0, -0.8), (0.0, 0.0), (0.5, -0.5), (0.9, -0.2), (0.0, 0.6))
    aus = [prototype_matrix()]
    single = np.zeros((len(shown_aus), len(AUS)), np.float32)
    single[np.arange(len(shown_aus)), [AUS.index(a) for a in shown_aus]] = 1.0
    aus.append(single)
    happy = prototype_matrix()[EXPRESSIONS.index("happiness")]
    aus += [np.tile(happy, (len(yaws), 1)), np.tile(happy, (len(lights), 1))]
    n = sum(len(a) for a in aus)
    nuisance = sample_nuisance("lab", n, rng)
    nuisance.yaw[:], nuisance.pitch[:], nuisance.roll[:] = 0, 0, 0
    nuisance.gaze[:] = 0
    nuisance.seed[:] = nuisance.seed[0]
    nuisance.background[:] = 0.6
    start = len(aus[0]) + len(aus[1])
    nuisance.yaw[start:start + len(yaws)] = yaws
    for k, (x, y) in enumerate(lights):
        z = np.sqrt(max(1 - x * x - y * y, 0.05))
        nuisance.light[start + len(yaws) + k] = np.array([x, y, z]) / np.linalg.norm([x, y, z])
    faces = render_faces(np.concatenate(aus).astype(np.float32), person[np.zeros(n, int)], nuisance, size=size,
                         seed=seed).aligned
    bounds = np.cumsum([0] + [len(a) for a in aus])
    captions = [list(EXPRESSIONS), [f"AU{a}" for a in shown_aus], [f"yaw {y}°" for y in yaws],
                ["left", "upper left", "above", "frontal", "upper right", "right", "below"]]
    rows = ("expression prototypes", "single action units", "head pose (yaw)", "light direction")
    return {row: (faces[bounds[i]:bounds[i + 1]], captions[i]) for i, row in enumerate(rows)}
