"""The seeds-as-data layer: units over seeds and grid points, tidy tables, stored units, statistics."""

import json

import numpy as np
import pandas as pd
import pytest

from fercore import results, seeds
from fercore.seeds import (
    Kept,
    Spread,
    UnitStore,
    grid,
    mean_sd_text,
    paired_gains,
    record_summary,
    record_values,
    recorded_verdict,
    run_over_seeds,
    run_unit,
    seeds_from,
    summarize,
    summary_text,
    units,
    verdict,
)


def score(seed, lam=0.0, k=1):
    """A stand-in experiment: a deterministic number per (lam, k, seed), two rows per run."""
    return [{"metric": "a", "value": lam * k + seed}, {"metric": "b", "value": -seed}]


def test_seeds_from_and_grid():
    assert seeds_from(3, 2) == [3, 4]
    with pytest.raises(ValueError, match="n_seeds"):
        seeds_from(0, 0)
    assert grid(lam=[0.1, 1.0], k=[5]) == [{"lam": 0.1, "k": 5}, {"lam": 1.0, "k": 5}]
    assert grid() == [{}]


def test_run_over_seeds_gives_one_row_per_setting_and_seed():
    table = run_over_seeds(score, [0, 1], grid(lam=[0.5, 2.0]), experiment="test.sweep")
    assert list(table.columns[:2]) == ["lam", "seed"] and len(table) == 2 * 2 * 2
    row = table.query("lam == 2.0 and seed == 1 and metric == 'a'").iloc[0]
    assert row["value"] == 2.0 * 1 + 1
    single = run_over_seeds(lambda seed: {"accuracy": seed / 10}, [0, 1, 2], experiment="test.plain")
    assert single["accuracy"].tolist() == [0.0, 0.1, 0.2] and single["seed"].tolist() == [0, 1, 2]


def test_units_and_their_rows_are_checked():
    todo = units("test.sweep", [0, 1], grid(lam=[0.5], k=[3]))
    assert [u.slug for u in todo] == ["lam=0.5,k=3,seed=0", "lam=0.5,k=3,seed=1"]
    assert run_unit(score, todo[1]).rows[0] == {"lam": 0.5, "k": 3, "seed": 1, "metric": "a", "value": 2.5}
    table, kept = run_over_seeds(lambda seed: Kept({"v": seed}, f"model {seed}"), [4, 5], experiment="test.kept",
                                 keep=True)
    assert table["v"].tolist() == [4, 5] and [kept[u] for u in units("test.kept", [4, 5])] == ["model 4", "model 5"]
    with pytest.raises(ValueError, match="dotted name"):
        units("bad name", [0])
    with pytest.raises(ValueError, match="unit's seed"):
        units("test.x", [0], [{"seed": 1}])
    with pytest.raises(TypeError, match="returns a dict"):
        run_over_seeds(lambda seed: 0.5, [0], experiment="test.bad")
    with pytest.raises(ValueError, match="own \\['seed'\\]"):
        run_over_seeds(lambda seed: {"seed": seed}, [0], experiment="test.bad")


def test_stored_units_merge_back_into_the_table(tmp_path):
    store = UnitStore(tmp_path)
    context = {"iterations": 10}
    table = run_over_seeds(score, [0, 1], grid(lam=[0.5, 2.0]), experiment="test.sweep", store=store,
                           context=context)
    files = sorted(p.name for p in (tmp_path / "test.sweep").iterdir())
    assert files == ["lam=0.5,seed=0.json", "lam=0.5,seed=1.json", "lam=2,seed=0.json", "lam=2,seed=1.json"]
    body = json.loads((tmp_path / "test.sweep" / "lam=2,seed=1.json").read_text())
    assert body["point"] == {"lam": 2.0} and body["seed"] == 1 and body["context"] == context
    assert len(body["rows"]) == 2
    # units run "elsewhere" (another store) are merged by copying their files in
    other = UnitStore(tmp_path / "other")
    run_over_seeds(score, [2], grid(lam=[0.5, 2.0]), experiment="test.sweep", store=other, context=context)
    for path in (tmp_path / "other" / "test.sweep").iterdir():
        (tmp_path / "test.sweep" / path.name).write_text(path.read_text())
    merged = store.table("test.sweep", context)
    assert len(merged) == 3 * 2 * 2
    pd.testing.assert_frame_equal(merged[merged["seed"] < 2].sort_values(["lam", "seed", "metric"]).reset_index(drop=True),
                                  table.sort_values(["lam", "seed", "metric"]).reset_index(drop=True))
    assert store.table("test.sweep", {"iterations": 99}).empty  # other parameters: not merged
    chapter = UnitStore(tmp_path / "chapter", context={"width": 0.5})
    run_over_seeds(score, [0], experiment="test.plain", store=chapter, context={"k": 1})
    assert len(chapter.table("test.plain", {"k": 1})) == 2 and chapter.table("test.plain", {"k": 2}).empty
    (tmp_path / "test.sweep" / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        store.table("test.sweep")


def test_unit_store_only_inside_a_runner_run(monkeypatch, tmp_path):
    monkeypatch.delenv(results.METRICS_ENV, raising=False)
    assert seeds.unit_store("dlp_dbm", "smoke", repo=tmp_path) is None
    monkeypatch.setenv(results.METRICS_ENV, str(tmp_path / "metrics.json"))
    assert seeds.unit_store("dlp_dbm", "smoke", repo=tmp_path).folder == tmp_path / "results" / "smoke" / "units" / "dlp_dbm"


def test_summaries_text_and_records():
    table = pd.DataFrame({"model": ["a", "a", "a", "b"], "seed": [0, 1, 2, 0], "value": [0.5, 0.7, 0.6, 0.3]})
    summary = summarize(table, ["model"])
    assert summary["n"].tolist() == [3, 1] and summary["sd"].tolist() == pytest.approx([0.1, 0.0])
    assert summary_text(summary, digits=2, scale=100).tolist() == ["60.00 ± 10.00", "30.00"]
    assert mean_sd_text(0.8123, 0.0123, 3, 2, 100) == "81.23 ± 1.23" and mean_sd_text(0.8123, 0.0, 1) == "0.812"
    record_summary(summary, "test.{model}.value")
    got = results.recorded()
    assert got["test.a.value"] == pytest.approx(0.6) and got["test.a.value.sd"] == pytest.approx(0.1)
    assert got["test.a.value.n_seeds"] == 3 and got["test.b.value.n_seeds"] == 1
    mean, sd = record_values("test.seeded", [0.5, 0.7, 0.6])
    assert mean == pytest.approx(0.6) and sd == pytest.approx(0.1)
    assert summarize(table, [], "value")["n"].iloc[0] == 4


def test_paired_gains():
    frame = pd.DataFrame({"seed": [0, 0, 1, 1], "target": "ckplus", "model": ["a", "b", "a", "b"],
                          "accuracy": [0.8, 0.7, 0.6, 0.65]})
    gains = paired_gains(frame, "a", "b").iloc[0]
    assert gains["mean"] == pytest.approx(0.025) and gains["n"] == 2 and gains["wins"] == 1
    assert gains["sd"] == pytest.approx(np.std([0.1, -0.05], ddof=1))


def test_verdict_weighs_the_gap_against_the_seed_spread():
    metrics = {"a": 0.50, "a.sd": 0.01, "a.n_seeds": 3, "b": 0.40, "b.sd": 0.02, "b.n_seeds": 3,
               "c": 0.45, "c.sd": 0.08, "c.n_seeds": 3, "d": 0.9}
    assert recorded_verdict(metrics, "a", "b") == "holds"
    assert recorded_verdict(metrics, "b", "a") == "does not hold"
    assert recorded_verdict(metrics, "a", "c").startswith("holds but within the seed-to-seed spread (+5.0 points")
    assert recorded_verdict(metrics, "d", "a") == "holds (one seed: no spread to judge it by)"
    assert recorded_verdict(metrics, "a", "z") == "was not run"
    assert verdict(Spread(0.5, 0.01, 3), Spread(0.4, 0.02, 3)) == "holds"
    assert verdict(Spread(float("nan")), Spread(0.4)) == "was not run"
