"""The reproduction report and the papers' numbers: paper beside ours, claims checked, files validated."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fercore import paper, report
from fercore.results import write_json_atomic

REPO = Path(__file__).resolve().parents[1]


def _numbers():
    return pd.DataFrame(
        [
            ["rafdb", "Table 4", "DLP-CNN", "basic", 74.2, "%", "dlp.dlp_cnn.mean_diag.basic"],
            ["rafdb", "Table 4", "VGG", "basic", 58.2, "%", "dlp.vgg.mean_diag.basic"],
            ["rafdb", "Table 5", "DLP-CNN", "SFEW 2.0", 51.05, "%", ""],
        ],
        columns=paper.NUMBER_COLUMNS,
    )


def test_report_puts_paper_and_ours_side_by_side_and_checks_claims(tmp_path):
    write_json_atomic(
        tmp_path / "p" / "dlp_dbm.json",
        {
            "parameters": {"data_root": "data/p"}, "seed": 0, "device": "cpu",
            "metrics": {"dlp.dlp_cnn.mean_diag.basic": 0.6, "dlp.dlp_cnn.mean_diag.basic.sd": 0.02,
                        "dlp.dlp_cnn.mean_diag.basic.n_seeds": 3, "dlp.base.mean_diag.basic": 0.7},
        },
    )
    claims = [
        {"paper": "rafdb", "claim": "DLP beats base", "better": "dlp.dlp_cnn.mean_diag.basic", "worse": "dlp.base.mean_diag.basic"},
        {"paper": "rafdb", "claim": "never run", "better": "x.y", "worse": "dlp.base.mean_diag.basic"},
    ]
    text = report.report_markdown("p", tmp_path, _numbers(), claims)
    assert "| DLP-CNN | basic | 74.2 % | 60.00 ± 2.00 |" in text
    assert "| VGG | basic | 58.2 % | not run |" in text
    assert "| DLP-CNN | SFEW 2.0 | 51.05 % | — |" in text  # no analog in the book
    assert "**not reproduced**" in text and "**not run**" in text
    assert "(synthetic)" in text


def test_training_state_reads_the_gap_and_prefers_the_retrained_gain():
    metrics = {"c.gap": 0.10, "c.gain": 0.05, "c.retrained_gain": 0.002}
    assert report.training_state(metrics, "c") == {"state": "learned", "gap": 0.10, "gain": 0.002, "retrained": True,
                                                   "doublings": None, "sd": None}
    del metrics["c.retrained_gain"]
    assert report.training_state(metrics, "c")["state"] == "still rising"       # the curve's own stretch
    assert report.training_state({"c.gap": 0.005, "c.gain": 0.0}, "c")["state"] == "not yet learned"
    assert report.training_state({"c.gap": 0.2, "c.gain": 0.01}, "c")["state"] == "still rising"  # a point is rising
    within_spread = {"c.gap": 0.2, "c.gain": 0.017, "c.test_sd": 0.02}  # the curve's rise is within the seeds' sd
    assert report.training_state(within_spread, "c")["state"] == "learned"
    assert report._state_text(report.training_state(within_spread, "c")) == (
        "learned (train − test +20.0; last stretch +1.7, seed sd 2.0)")
    assert report.training_state({**within_spread, "c.retrained_gain": 0.017}, "c")["state"] == "still rising"
    assert report.training_state({"c.gap": 0.2}, "c") is None
    assert report.training_state({"c.gap": report.Stale(0.2), "c.gain": 0.0}, "c") is None
    assert report.training_state(metrics, None) is None
    assert report.training_state({**metrics, "c.doublings": 3.0}, "c")["doublings"] == 3.0
    assert report.training_state({"c.gap": 0.1, "c.gain": 0.0, "c.doublings": 3.0}, "c")["doublings"] is None  # learned


def test_report_says_where_on_the_curve_each_claim_was_checked(tmp_path):
    write_json_atomic(tmp_path / "p" / "ch.json", {"parameters": {"data_root": "data/p"}, "metrics": {
        "a": 0.5, "b": 0.6, "c": 0.7, "d": 0.4,
        "net.curve.base.gap": 0.12, "net.curve.base.gain": 0.08, "net.curve.base.retrained_gain": 0.004,
        "rising.gap": 0.05, "rising.gain": 0.03, "rising.doublings": 3.0}})
    claims = [{"paper": "rafdb", "claim": "a > b on learned nets", "better": "a", "worse": "b", "curve": "net.curve.base"},
              {"paper": "rafdb", "claim": "d > c on rising nets", "better": "d", "worse": "c", "curve": "rising"},
              {"paper": "rafdb", "claim": "c > a, no deep net", "better": "c", "worse": "a"},
              {"paper": "rafdb", "claim": "a > d, curve never run", "better": "a", "worse": "d", "curve": "gone"}]
    text = report.report_markdown("p", tmp_path, _numbers(), claims)
    assert ("| a > b on learned nets | 0.500 vs 0.600 | **not reproduced** | "
            "learned (train − test +12.0; half budget → full +0.4) |") in text
    assert ("| d > c on rising nets | 0.400 vs 0.700 | **not reproduced** | still rising (train − test +5.0; last stretch +3.0; "
            "flat at about 8× the budget) |") in text
    assert "| c > a, no deep net | 0.700 vs 0.500 | **reproduced** |  |" in text
    assert ("Of the 2 not reproduced: 1 on nets that have learned and stopped gaining (the effect is not there on this "
            "world), 1 on nets still rising") in text


def test_report_lists_a_tables_rows_together():
    numbers = pd.DataFrame([["rafdb", "T", "a", "x", 1, "", ""], ["rafdb", "T", "b", "x", 2, "", ""],
                            ["rafdb", "T", "a", "y", 3, "", ""]], columns=paper.NUMBER_COLUMNS)
    text = report.report_markdown("none", "/nonexistent", numbers, [])
    assert text.index("| a | y |") < text.index("| b | x |")


def test_shipped_report_renders_every_paper(tmp_path):
    text = report.report_markdown("none", tmp_path)
    for title in paper.PAPERS.values():
        assert f"## {title}" in text
    assert "### Table VIII (ablation, AffectNet accuracy)" in text


# ------------------------------------------------------------------ the shipped numbers


def test_shipped_numbers_and_claims_are_valid():
    numbers = report.load_paper_numbers()
    assert set(numbers["paper"]) == set(paper.PAPERS)
    assert set(numbers["unit"]) <= set(paper.UNITS)
    assert numbers["value"].map(np.isfinite).all()
    assert not numbers.duplicated(["paper", "table", "row", "column"]).any()
    assert (numbers.loc[numbers["unit"] == "%", "value"].between(0, 100)).all()
    assert report.load_claims()


def _recorded_key_patterns():
    """Every string template of a results key written in a chapter notebook or a fercore module:
    dotted literals and f-strings (``{...}`` matches one key segment), undotted ones where a line
    records them, and ``record_many`` prefixes followed by one segment. Lines that mention the
    papers look their numbers up rather than record ours, so they are left out."""
    notebooks = [json.loads(p.read_text()) for p in sorted((REPO / "notebooks").glob("*.ipynb"))]
    texts = ["".join("".join(c["source"]) + "\n" for c in nb["cells"] if c["cell_type"] == "code") for nb in notebooks]
    texts += [p.read_text() for p in sorted((REPO / "fercore").rglob("*.py")) if p.name != "paper.py"]
    patterns = set()
    for line in (line for text in texts for line in text.splitlines() if "paper" not in line.lower()):
        for literal in re.findall(r'"([^"\n]+)"', line) + re.findall(r"'([^'\n]+)'", line):
            body = re.sub(r"\{[^{}]*\}", "\0", literal)
            if not re.match(r"[a-z]", body) or re.search(r"\s", body) or ("." not in body and "record" not in line):
                continue
            pattern = "".join("[^.]+" if ch == "\0" else re.escape(ch) for ch in body)
            patterns.add(pattern + (r"\.[^.]+" if "record_many(" in line else ""))
    return [re.compile(p) for p in patterns]


@pytest.fixture(scope="module")
def recorded_patterns():
    return _recorded_key_patterns()


def test_every_key_of_a_paper_number_is_recorded_by_a_chapter(recorded_patterns):
    keys = set(report.load_paper_numbers()["key"]) - {""}
    unknown = sorted(k for k in keys if not any(p.fullmatch(k) for p in recorded_patterns))
    assert not unknown, f"keys no chapter records: {unknown}"


def test_every_claim_compares_keys_a_chapter_records(recorded_patterns):
    keys = {c[side] for c in report.load_claims() for side in ("better", "worse")}
    keys |= {f"{c['curve']}.{part}" for c in report.load_claims() if "curve" in c for part in ("gap", "gain")}
    unknown = sorted(k for k in keys if not any(p.fullmatch(k) for p in recorded_patterns))
    assert not unknown, f"claim keys no chapter records: {unknown}"
    assert {c["paper"] for c in report.load_claims()} == set(paper.PAPERS)
