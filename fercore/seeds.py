"""Seeds as data: run a function over seeds and a parameter grid, keep every run as a table row.

An experiment's repeated runs are *units*: one :class:`Unit` is one (grid point, seed) of one
named experiment (``"dlp_dbm.basic"``: chapter id, then a name inside the chapter). A unit's
function returns its raw rows (a dict of numbers, a list of dicts or a DataFrame); every row gets
the unit's grid point and seed as columns, so the result of :func:`run_over_seeds` is a tidy
table with one row per (setting, seed) and nothing else to know::

    from fercore import seeds
    table = seeds.run_over_seeds(fit_and_score, seeds.seeds_from(0, n_seeds),
                                 seeds.grid(lam=[0.001, 0.01]), experiment="dlp_dbm.sweep",
                                 store=seeds.unit_store("dlp_dbm", profile))
    summary = seeds.summarize(table, ["lam"], "accuracy")      # mean, sd, n per setting
    seeds.record_summary(summary, "dlp.sweep.{lam}.accuracy")  # key, key.sd, key.n_seeds

Statistics over seeds (mean, sample sd, n, ``"mean ± sd"`` text, the :func:`verdict` that
weighs a gap against the seed-to-seed spread) are computed here and nowhere else.

**Stored units.** Inside ``fercore run`` each unit's rows are written, atomically, as their own
JSON file ``results/<profile>/units/<chapter>/<experiment name>/<point>seed=<seed>.json``
(see :meth:`UnitStore.path`). A file holds ``experiment``, ``point``, ``seed``, ``context``
(the chapter parameters the rows depend on), its ``fingerprint``, ``columns`` (their order) and
``rows``. Units run on
other machines can be copied into the same folder; :meth:`UnitStore.table` merges every unit
of an experiment whose fingerprint matches back into the tidy table. :func:`run_over_seeds`
takes ``map_units`` (a ``map``-like callable) so units can be farmed out; each unit is computed
by :func:`run_unit`, which depends only on the function and the unit.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fercore import cluster, results
from fercore.progress import progress

SEED_COUNT = "n_seeds"
"""The one parameter name for a chapter's number of seeds, in every profile and notebook; the
recorded count beside a mean is ``<key>.n_seeds``."""

UNITS_FOLDER = "units"
_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_\-]+)*$")


def seeds_from(seed: int, n_seeds: int) -> list[int]:
    """The seeds of a run: ``seed, seed + 1, …`` (``n_seeds`` of them)."""
    if int(n_seeds) < 1:
        raise ValueError(f"{SEED_COUNT} must be at least 1, got {n_seeds!r}")
    return [int(seed) + i for i in range(int(n_seeds))]


def grid(**axes) -> list[dict]:
    """Every combination of the given axes, in the order given: ``grid(a=[1, 2], b=["x"])`` →
    ``[{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]``; ``grid()`` is the single empty point."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(list(axes[n]) for n in names))]


@dataclass(frozen=True)
class Unit:
    """One run of an experiment: a grid ``point`` (parameter name → value) and a ``seed``."""

    experiment: str
    point: tuple = field(default=())
    seed: int = 0

    @classmethod
    def make(cls, experiment: str, point: dict | None, seed: int) -> "Unit":
        if not isinstance(experiment, str) or not _NAME.match(experiment):
            raise ValueError(f"experiment name {experiment!r} is not a dotted name like 'dlp_dbm.basic'")
        point = dict(point or {})
        if "seed" in point:
            raise ValueError(f"{experiment}: 'seed' is the unit's seed, not a grid parameter")
        return cls(experiment, tuple(point.items()), int(seed))

    @property
    def params(self) -> dict:
        return dict(self.point)

    @property
    def slug(self) -> str:
        """``lam=0.01,k=10,seed=0``: the unit's file name stem (characters outside
        ``[A-Za-z0-9._=,-]`` become ``_``)."""
        parts = [f"{k}={_text(v)}" for k, v in self.point] + [f"seed={self.seed}"]
        return re.sub(r"[^A-Za-z0-9._=,\-]", "_", ",".join(parts))


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(_text(v) for v in value)
    return str(value)


def units(experiment: str, seeds, points=None) -> list[Unit]:
    """The units of an experiment: every grid point (default: the single empty point) crossed
    with every seed, points outermost."""
    return [Unit.make(experiment, p, s) for p in (points if points is not None else [{}]) for s in seeds]


@dataclass
class Kept:
    """What a unit function returns to keep objects (fitted models, histories) beside its rows:
    the rows are tabulated and stored, ``objects`` stay in memory and are never stored."""

    rows: object
    objects: object = None


def _rows(output, unit: Unit) -> list[dict]:
    """A unit function's output as a list of row dicts."""
    if isinstance(output, Kept):
        output = output.rows
    if isinstance(output, pd.DataFrame):
        rows = output.to_dict("records")
    elif isinstance(output, dict):
        rows = [output]
    elif isinstance(output, (list, tuple)) and all(isinstance(r, dict) for r in output):
        rows = list(output)
    else:
        raise TypeError(f"{unit.experiment} ({unit.slug}): a unit function returns a dict, a list of dicts or "
                        f"a DataFrame, not {type(output).__name__}")
    clash = {"seed", *unit.params} & {k for r in rows for k in r}
    if clash:
        raise ValueError(f"{unit.experiment} ({unit.slug}): rows must not carry their own {sorted(clash)} columns")
    return [{**unit.params, "seed": unit.seed, **r} for r in rows]


def run_unit(fn, unit: Unit) -> Kept:
    """``fn(seed=unit.seed, **unit.params)``: its rows (row dicts, each carrying the unit's point
    and seed) and the objects it kept (:class:`Kept`; ``None`` if it returned rows only)."""
    output = fn(seed=unit.seed, **unit.params)
    return Kept(_rows(output, unit), output.objects if isinstance(output, Kept) else None)


def run_over_seeds(fn, seeds, points=None, *, experiment: str, store: "UnitStore | None" = None,
                   context=None, map_units=None, keep=False):
    """Run ``fn`` once per (grid point, seed) and return the tidy table of all their rows.

    ``fn(seed=…, **point)`` returns the unit's rows (a dict, a list of dicts or a DataFrame),
    or :class:`Kept` (rows and objects to keep in memory); the table's first columns are the
    grid parameters and ``seed``. With a ``store`` each unit's rows are written as their own
    file, with ``context`` (JSON-able: the parameters the rows depend on). ``map_units(function,
    units)`` replaces the serial loop (e.g. a cluster's map); it must return the results in the
    units' order; inside ``fercore run --cluster`` it defaults to the cluster's
    (:func:`fercore.cluster.unit_mapper`). With ``keep``, returns ``(table, kept)``, ``kept``
    mapping each :class:`Unit` to the objects its function kept; without it, units the store
    already holds with a matching fingerprint are read back, not re-run, when the store allows
    it (:attr:`UnitStore.reuse`).
    """
    todo = units(experiment, seeds, points)
    stored = store.reusable(todo, context) if store is not None and not keep else {}
    pending = [u for u in todo if u not in stored]
    map_units = map_units or cluster.unit_mapper(experiment)
    if map_units is None:
        fresh = [run_unit(fn, u) for u in progress(pending, desc=experiment, unit="run")]
    else:
        fresh = list(map_units(lambda u: run_unit(fn, u), pending))
    if store is not None:
        for unit, result in zip(pending, fresh):
            store.write(unit, result.rows, context)
    fresh = iter(fresh)
    done = [stored[u] if u in stored else next(fresh) for u in todo]
    table = pd.DataFrame([r for result in done for r in result.rows])
    return (table, {u: result.objects for u, result in zip(todo, done)}) if keep else table


def fingerprint(context) -> str:
    """A short hash of a unit's context (the parameters its rows depend on)."""
    text = json.dumps(context, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class UnitStore:
    """One folder of stored units (one chapter's): one JSON file per unit, mergeable across runs.

    ``context``: the chapter parameters every unit's rows depend on; a unit's own ``context``
    (from :func:`run_over_seeds`) is added to it. ``reuse``: :meth:`reusable` hands back the
    units already stored with a matching fingerprint.
    """

    def __init__(self, folder, context=None, reuse=False):
        self.folder = Path(folder)
        self.context = dict(context or {})
        self.reuse = reuse

    def unit_context(self, context=None) -> dict:
        """The context written with a unit: the store's, updated with the unit's own."""
        return {**self.context, **(context or {})}

    def path(self, unit: Unit) -> Path:
        """``<folder>/<experiment>/<slug>.json``."""
        return self.folder / unit.experiment / f"{unit.slug}.json"

    def write(self, unit: Unit, rows: list[dict], context=None) -> Path:
        """Write one unit's rows atomically; returns the file."""
        path = self.path(unit)
        context = self.unit_context(context)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        body = {"experiment": unit.experiment, "point": unit.params, "seed": unit.seed, "context": context,
                "fingerprint": fingerprint(context), "columns": columns, "rows": rows}
        results.write_json_atomic(path, json.loads(json.dumps(body, default=_json_default)))
        return path

    def reusable(self, todo, context=None) -> dict:
        """The units of ``todo`` already stored with the fingerprint they would get now, as
        :class:`Kept` rows (none unless :attr:`reuse`)."""
        if not self.reuse:
            return {}
        want = fingerprint(self.unit_context(context))
        out = {}
        for unit in todo:
            path = self.path(unit)
            if path.is_file():
                body = self.read(path)
                if body["fingerprint"] == want:
                    out[unit] = Kept(body["rows"])
        return out

    def read(self, path) -> dict:
        """One stored unit, checked for its fields."""
        path = Path(path)
        try:
            body = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        missing = {"experiment", "point", "seed", "fingerprint", "rows"} - set(body)
        if missing:
            raise ValueError(f"{path}: not a stored unit (missing {sorted(missing)})")
        return body

    def table(self, experiment: str, context=None) -> pd.DataFrame:
        """Every stored unit of ``experiment`` merged into one tidy table, ordered by grid point
        then seed; with ``context``, only units whose fingerprint matches
        :meth:`unit_context` of it (the store's context updated with ``context``)."""
        folder = self.folder / experiment
        bodies = [self.read(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        if context is not None:
            bodies = [b for b in bodies if b["fingerprint"] == fingerprint(self.unit_context(context))]
        bodies.sort(key=lambda b: (json.dumps(b["point"], sort_keys=True), b["seed"]))
        columns = list(dict.fromkeys(c for b in bodies for c in b.get("columns", [])))
        table = pd.DataFrame([r for b in bodies for r in b["rows"]])
        return table[columns + [c for c in table.columns if c not in columns]]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def unit_store(chapter: str, profile: str, context=None, repo=".") -> UnitStore | None:
    """The unit store of a chapter run by ``fercore run`` (``results/<profile>/units/<chapter>``),
    with the chapter parameters ``context``; ``None`` elsewhere (a notebook opened by hand
    records nothing either). Under ``fercore run --cluster`` the context also holds the chapter's
    ``code_key`` (:func:`fercore.cluster.unit_code_key`) and the store re-uses matching units."""
    if not os.environ.get(results.METRICS_ENV):
        return None
    code_key = os.environ.get(cluster.UNIT_KEY_ENV)
    context = {**(context or {}), **({"code_key": code_key} if code_key else {})}
    return UnitStore(Path(repo) / "results" / profile / UNITS_FOLDER / chapter, context,
                     reuse=bool(code_key and os.environ.get(cluster.REUSE_ENV)))


# ---------------------------------------------------------------- statistics over seeds


def mean_sd(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (0 for one value) and count of per-seed values."""
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        raise ValueError("no values to summarize")
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), sd, int(values.size)


def summarize(table: pd.DataFrame, by, value="value") -> pd.DataFrame:
    """``mean``, ``sd`` (sample; 0 for a single seed) and ``n`` of ``value`` per group ``by``
    (groups in order of appearance); ``by`` empty summarizes the whole column."""
    by = list(by)
    if not by:
        mean, sd, n = mean_sd(table[value])
        return pd.DataFrame([{"mean": mean, "sd": sd, "n": n}])
    grouped = table.groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    out["sd"] = out["sd"].where(out["n"] > 1, 0.0).fillna(0.0)
    return out


def mean_sd_text(mean, sd, n, digits=3, scale=1.0) -> str:
    """``"0.812 ± 0.013"`` (``"0.812"`` for one seed), values times ``scale``."""
    text = f"{mean * scale:.{digits}f}"
    return f"{text} ± {sd * scale:.{digits}f}" if n > 1 else text


def summary_text(summary: pd.DataFrame, digits=3, scale=1.0) -> pd.Series:
    """:func:`mean_sd_text` of every row of a :func:`summarize` table."""
    return pd.Series([mean_sd_text(m, s, n, digits, scale) for m, s, n in
                      zip(summary["mean"], summary["sd"], summary["n"])], index=summary.index, dtype=object)


def record_stat(key: str, mean, sd, n) -> float:
    """Record ``key`` (the mean over seeds), ``key.sd`` and ``key.n_seeds``; returns the mean."""
    mean = results.record(key, mean)
    results.record(f"{key}.sd", sd)
    results.record(f"{key}.{SEED_COUNT}", n)
    return mean


def record_values(key: str, values) -> tuple[float, float]:
    """Record per-seed ``values`` under ``key`` (mean, ``.sd``, ``.n_seeds``); returns (mean, sd)."""
    mean, sd, n = mean_sd(values)
    record_stat(key, mean, sd, n)
    return mean, sd


def record_summary(summary: pd.DataFrame, key) -> dict[str, float]:
    """Record every row of a :func:`summarize` table; ``key`` is a format string over the
    table's columns (``"dlp.{model}.{metric}"``) or a function of the row. Returns key → mean."""
    out = {}
    for row in summary.to_dict("records"):
        name = key.format(**row) if isinstance(key, str) else key(row)
        out[name] = record_stat(name, row["mean"], row["sd"], row["n"])
    return out


def paired_gains(table: pd.DataFrame, better, worse, *, by=("target",), value="accuracy", column="model"):
    """Seed-by-seed difference ``value(better) − value(worse)`` (rows told apart by ``column``)
    per group ``by``: ``mean``, ``sd``, ``n`` seeds and ``wins`` (seeds where ``better`` scored higher)."""
    wide = table.pivot_table(index=[*by, "seed"], columns=column, values=value).reset_index()
    wide = wide.dropna(subset=[better, worse])
    wide["gain"] = wide[better] - wide[worse]
    out = summarize(wide, by, "gain")
    out["wins"] = wide.assign(win=wide["gain"] > 0).groupby(list(by), sort=False)["win"].sum().to_numpy()
    return out


@dataclass(frozen=True)
class Spread:
    """A number measured over seeds: mean, sample sd and number of seeds."""

    mean: float
    sd: float = 0.0
    n: int = 1

    @classmethod
    def recorded(cls, metrics: dict, key: str) -> "Spread | None":
        """The spread recorded under ``key`` (``key``, ``key.sd``, ``key.n_seeds``); ``None`` if absent."""
        if key not in metrics:
            return None
        return cls(metrics[key], metrics.get(f"{key}.sd", 0.0), int(metrics.get(f"{key}.{SEED_COUNT}", 1)))


def verdict(better: Spread | None, worse: Spread | None, scale=100.0, unit="points") -> str:
    """Whether ``better.mean > worse.mean`` holds, in words, weighed against the seed-to-seed
    spread (the larger sd of the two): "holds", "does not hold", "… but within the seed-to-seed
    spread (…)", "… (one seed: no spread to judge it by)" or "was not run"."""
    if better is None or worse is None or not all(map(math.isfinite, (better.mean, worse.mean))):
        return "was not run"
    gap = better.mean - worse.mean
    spread = max(better.sd, worse.sd)
    text = "holds" if gap > 0 else "does not hold"
    if min(better.n, worse.n) < 2:
        return text + " (one seed: no spread to judge it by)"
    if abs(gap) <= spread:
        return text + f" but within the seed-to-seed spread ({scale * gap:+.1f} {unit}, sd up to {scale * spread:.1f})"
    return text


def recorded_verdict(metrics: dict, better: str, worse: str) -> str:
    """:func:`verdict` of two recorded keys."""
    return verdict(Spread.recorded(metrics, better), Spread.recorded(metrics, worse))
