"""The reproduction report: the papers' numbers beside ours, and each headline claim checked.

Two files kept in the repo drive it: ``paper_numbers.csv`` (read by :mod:`fercore.paper`: paper,
table, row, column, value, unit, key — the number a paper prints and the results key under which
a chapter records ours) and
``claims.yaml`` (headline claims as comparisons between results keys; a claim between deep nets
names the learning curve of its baseline, so that the report says whether the nets had learned
when the claim was checked: :func:`training_state`). Our values come from
``results/<profile>/*.json``; a number measured over seeds shows as mean ± sd. Only the results
of a chapter's last successful run of the profile's current parameters, code and data count; an
older one (another ``-p`` value, changed code or data) shows as *stale*, never as reproduced.
"""

from pathlib import Path

import pandas as pd
import yaml

from fercore.paper import PAPERS, load_paper_numbers
from fercore.results import load_results

PACKAGE_DIR = Path(__file__).parent


CURVE_TOLERANCE = 0.01
"""Train − test gap above which a net has fitted its training set, and test gain from a doubled
budget at or above which it is still rising (as :func:`fercore.curves.curve_reading`)."""


def load_claims(path=None) -> list[dict]:
    """Headline claims: ``{paper, claim, better, worse}`` (results keys; higher is better), and
    for claims between deep nets ``curve``, the results-key prefix of the baseline's learning
    curve (:func:`training_state`)."""
    path = Path(path or PACKAGE_DIR / "claims.yaml")
    claims = yaml.safe_load(path.read_text()) or []
    for i, claim in enumerate(claims):
        missing = {"paper", "claim", "better", "worse"} - set(claim)
        if missing:
            raise ValueError(f"{path}: claim {i + 1} lacks {sorted(missing)}")
    return claims


def flat_metrics(results: dict) -> dict[str, float]:
    """All chapters' metrics of one profile in one mapping."""
    out = {}
    for body in results.values():
        out.update(body.get("metrics", {}))
    return out


class Stale(float):
    """A number from a stale run: shown as *stale*, never used to check a claim."""


def format_ours(metrics: dict, key: str, unit: str) -> str:
    """Our value under ``key`` in the paper's unit, with ± sd when measured over seeds; ``—``
    where the book has no analog (no key), ``not run`` where this profile did not record it."""
    if not key:
        return "—"
    if key not in metrics:
        return "not run"
    if isinstance(metrics[key], Stale):
        return "stale"
    scale = 100.0 if unit == "%" else 1.0
    digits = _digits(metrics[key], unit)
    text = f"{metrics[key] * scale:.{digits}f}"
    if f"{key}.sd" in metrics and metrics.get(f"{key}.n_seeds", 1) > 1:
        text += f" ± {metrics[f'{key}.sd'] * scale:.{digits}f}"
    return text


def _digits(value, unit=""):
    """Decimals to show: 2 for percentages; for other numbers 3 below 10 (scores, coverage),
    1 below 1,000 (counts averaged over seeds), none above."""
    if unit == "%":
        return 2
    return 3 if abs(value) < 10 else 1 if abs(value) < 1000 else 0


def training_state(metrics: dict, curve: str | None) -> dict | None:
    """Where on its learning curve the baseline net of a claim was when the claim was checked,
    from the keys ``<curve>.gap`` (train − test at the end) and ``<curve>.retrained_gain`` (the
    test gain from half the budget, the net retrained from scratch with its whole schedule) or,
    where the chapter did not retrain, ``<curve>.gain`` (the curve's own last stretch, rising only
    beyond the seed-to-seed sd ``<curve>.test_sd`` too, as the chapter's own reading says).

    Returns ``None`` without a curve or its numbers, else ``state`` — ``not yet learned`` (train
    no more than :data:`CURVE_TOLERANCE` above test), ``still rising`` (the larger budget gained
    at least that much) or ``learned`` (fitted, and no longer gaining) — with ``gap``, ``gain``,
    ``retrained`` (whether the gain comes from a retrained net), ``sd`` (the curve's seed sd, where
    its own last stretch was read and the sd recorded; else ``None``) and ``doublings`` (of a still-rising
    net, ``<curve>.doublings``: more doublings of the budget until one gains under a point,
    :func:`fercore.curves.budget_to_flat`; ``None`` where not recorded).
    """
    if not curve:
        return None
    gap = metrics.get(f"{curve}.gap")
    retrained = f"{curve}.retrained_gain" in metrics
    gain = metrics.get(f"{curve}.retrained_gain" if retrained else f"{curve}.gain")
    if gap is None or gain is None or isinstance(gap, Stale) or isinstance(gain, Stale):
        return None
    sd = None if retrained else metrics.get(f"{curve}.test_sd")
    sd = None if isinstance(sd, Stale) else sd
    rising = gain >= max(CURVE_TOLERANCE, sd or 0.0)
    state = "not yet learned" if gap <= CURVE_TOLERANCE else "still rising" if rising else "learned"
    doublings = metrics.get(f"{curve}.doublings")
    doublings = doublings if state == "still rising" and not isinstance(doublings, Stale) else None
    return {"state": state, "gap": gap, "gain": gain, "retrained": retrained, "doublings": doublings, "sd": sd}


def _state_text(state: dict | None) -> str:
    """One table cell: the state and the two numbers behind it, in points."""
    if state is None:
        return ""
    source = "half budget → full" if state["retrained"] else "last stretch"
    flat = (f"; flat at about {2 ** state['doublings']:.0f}× the budget" if state.get("doublings") else "")
    spread = f", seed sd {100 * state['sd']:.1f}" if state.get("sd") is not None else ""
    return (f"{state['state']} (train − test {100 * state['gap']:+.1f}; {source} "
            f"{100 * state['gain']:+.1f}{spread}{flat})")


def claim_status(metrics: dict, claim: dict) -> str:
    """``reproduced``, ``not reproduced`` or ``not run`` for one claim on our numbers."""
    better, worse = claim["better"], claim["worse"]
    if better not in metrics or worse not in metrics:
        return "not run"
    if isinstance(metrics[better], Stale) or isinstance(metrics[worse], Stale):
        return "stale"
    return "reproduced" if metrics[better] > metrics[worse] else "not reproduced"


def data_sources(results: dict, freshness=None) -> list[str]:
    """Each chapter's data root, labelled synthetic or real, its run's freshness and what it ran without."""
    lines = []
    for chapter, body in sorted(results.items()):
        root = str(body.get("parameters", {}).get("data_root", ""))
        kind = "synthetic" if root.startswith("data/") else "a real copy"
        line = f"`{chapter}`: `{root}` ({kind}), seed {body.get('seed')}, {body.get('device')}"
        if (freshness or {}).get(chapter, "fresh") != "fresh":
            line += (f" — **stale**: run {body.get('started', '')} with other parameters, code or data than "
                     "the profile's current ones; its numbers are not used")
        for note in body.get("notes") or []:
            line += f" — ran without {note['what']} ({note['kind']})"
        lines.append(line)
    return lines


_UNREPRODUCED = {
    "learned": "on nets that have learned and stopped gaining (the effect is not there on this world)",
    "still rising": "on nets still rising (provisional: a longer run may change them)",
    "not yet learned": "on nets that have not yet learned (too early to say)",
    "no learning curve": "without a learning curve (handcrafted methods, label estimation, or nets the chapters do not follow)",
}


def report_markdown(profile: str, results_root="results", numbers=None, claims=None, freshness=None) -> str:
    """The report page's body for one profile, as MyST markdown.

    ``freshness`` maps a chapter to ``fresh`` or ``stale`` (:func:`fercore.run_state.results_freshness`);
    a stale chapter's numbers show as *stale* and its claims are not checked.
    """
    results = load_results(profile, results_root)
    metrics = flat_metrics({c: b for c, b in results.items() if (freshness or {}).get(c, "fresh") == "fresh"})
    for chapter, body in results.items():
        if (freshness or {}).get(chapter, "fresh") != "fresh":
            metrics.update({k: Stale(v) for k, v in body.get("metrics", {}).items() if k not in metrics})
    numbers = load_paper_numbers() if numbers is None else numbers
    claims = load_claims() if claims is None else claims
    out = [f"Numbers from profile `{profile}`, {len(results)} chapter(s) run. Data per chapter:\n"]
    out += [f"- {line}" for line in data_sources(results, freshness)] or ["- no chapter has been run for this profile"]
    out += ["", "## Headline claims", "",
            "The last column says where the comparison's baseline net was on its learning curve when the "
            "claim was checked (points of the chapter's measure): *not yet learned* (its training score no "
            "higher than its test score), *still rising* (trained from scratch on half the budget it scores "
            "at least a point less, or, where the chapter does not retrain it, its test curve rose at least a "
            "point, and more than its seed-to-seed sd, over its last stretch) or *learned* (fitted, and no longer gaining). A claim decided on nets still "
            "rising is provisional; one not reproduced on learned nets is an effect this world does not show. Where "
            "the chapter extrapolated the baseline's curve, the column says at about what multiple of the budget it "
            "would gain under a point per doubling (a power law through the curve, a rough guide).",
            "", "| paper | claim | ours | status | baseline net |", "|---|---|---|---|---|"]
    statuses, states = [], []
    for claim in claims:
        status = claim_status(metrics, claim)
        state = training_state(metrics, claim.get("curve")) if status in ("reproduced", "not reproduced") else None
        statuses.append(status)
        states.append(state)
        ours = (
            " vs ".join(f"{metrics[k]:.{_digits(metrics[k])}f}" for k in (claim["better"], claim["worse"]))
            if status != "not run" else ""
        )
        out.append(f"| {claim['paper']} | {claim['claim']} | {ours} | **{status}** | {_state_text(state)} |")
    counts = pd.Series(statuses).value_counts()
    out += ["", ", ".join(f"{n} {label}" for label, n in counts.items()) + ".", ""]
    unreproduced = [state for status, state in zip(statuses, states) if status == "not reproduced"]
    if unreproduced:
        by_state = pd.Series([s["state"] if s else "no learning curve" for s in unreproduced]).value_counts()
        out += [f"Of the {len(unreproduced)} not reproduced: "
                + ", ".join(f"{n} {_UNREPRODUCED[label]}" for label, n in by_state.items()) + ".", ""]
    out += ["In the tables below, *not run* marks a number this profile did not produce, *stale* one from "
            "a run of other parameters, code or data, and — a number the book has no analog of.", ""]
    for paper, title in PAPERS.items():
        rows = numbers[numbers["paper"] == paper]
        if rows.empty:
            continue
        out += [f"## {title}", ""]
        for table, block in rows.groupby("table", sort=False):
            order = {row: i for i, row in enumerate(dict.fromkeys(block["row"]))}
            block = block.sort_values("row", key=lambda r: r.map(order), kind="stable")
            out += [f"### {table}", "", "| row | column | paper | ours | key |", "|---|---|---:|---:|---|"]
            for r in block.itertuples():
                unit = r.unit or ""
                paper_value = f"{r.value:g}{' %' if unit == '%' else ''}"
                ours = format_ours(metrics, r.key, unit)
                key = f"`{r.key}`" if r.key else ""
                out.append(f"| {r.row} | {r.column} | {paper_value} | {ours} | {key} |")
            out.append("")
    return "\n".join(out) + "\n"


def write_report(profile: str, repo=".", freshness=None) -> Path:
    """Write ``book/_generated/report.md`` (only when its text changed); ``freshness`` as in
    :func:`report_markdown`, computed by the runner when not given."""
    if freshness is None:
        from fercore.run_state import results_freshness

        freshness = results_freshness(profile, repo)
    target = Path(repo) / "book" / "_generated" / "report.md"
    text = report_markdown(profile, Path(repo) / "results", freshness=freshness)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text() != text:
        target.write_text(text)
    return target
