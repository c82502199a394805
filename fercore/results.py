"""The results registry: every number a chapter shows is recorded under a stable dotted key.

Inside a chapter run by ``fercore run``, :func:`record` also writes the metrics collected so far
to the file named by ``FERCORE_METRICS_FILE``; the runner then writes
``results/<profile>/<chapter>.json`` (metrics plus run metadata) atomically.
"""

import json
import math
import os
import re
import tempfile
from pathlib import Path

METRICS_ENV = "FERCORE_METRICS_FILE"
NOTES_ENV = "FERCORE_RUN_NOTES_FILE"
NOTE_KINDS = ("missing", "simulated")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_+\-]+)*$")

_metrics: dict[str, float] = {}
_notes: list[dict] = []


def write_atomic(path, write) -> None:
    """Call ``write(temporary_path)``, then rename the file to ``path``: a crash mid-write
    leaves any previous file at ``path`` intact and no temporary file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (:func:`write_atomic`), synced to disk."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())

    write_atomic(path, write)


def record(key: str, value) -> float:
    """Record one number under a dotted key (``em.label_accuracy``) and return it as a float."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValueError(f"results key {key!r} is not a dotted name like 'em.label_accuracy'")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"results key {key!r}: value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"results key {key!r}: value {number} is not finite")
    _metrics[key] = number
    target = os.environ.get(METRICS_ENV)
    if target:
        write_json_atomic(target, _metrics)
    return number


def note(kind: str, what: str, reason: str) -> None:
    """Tell the runner that this run departs from what it was asked for: ``missing`` (a dataset it
    was asked to read could not be read) or ``simulated`` (simulated data stood in for real data).

    The library notes these itself (``fercore.datasets.load``, the vote-table lookup), so a chapter
    that carries on without the data cannot end as a plain success: the runner marks the run
    failed unless the user allowed it (``fercore run --allow-missing``).
    """
    if kind not in NOTE_KINDS:
        raise ValueError(f"note kind must be one of {NOTE_KINDS}, got {kind!r}")
    entry = {"kind": kind, "what": what, "reason": reason}
    if entry not in _notes:
        _notes.append(entry)
    target = os.environ.get(NOTES_ENV)
    if target:
        write_json_atomic(target, _notes)


def noted() -> list[dict]:
    """A copy of the notes made in this process."""
    return [dict(n) for n in _notes]


def record_many(prefix: str, mapping) -> dict[str, float]:
    """Record each ``name: value`` of ``mapping`` as ``prefix.name``."""
    return {f"{prefix}.{k}": record(f"{prefix}.{k}", v) for k, v in mapping.items()}


def recorded() -> dict[str, float]:
    """A copy of the metrics recorded in this process."""
    return dict(_metrics)


def load_results(profile: str, root="results") -> dict[str, dict]:
    """Every chapter's results file of a profile, keyed by chapter id."""
    folder = Path(root) / profile
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
    return out
