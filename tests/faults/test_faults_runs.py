"""Run-state faults: a chapter that skipped data or simulated votes fails, stale results never pass as
fresh, a failed run loses nothing, temporary folders and kernel files go on every exit path."""

import json
import os
import shutil
import signal
import tempfile
import textwrap
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from fercore import cli, paper, parameters, report, run_state, runner
from fercore.synth import world

PARAMS = 'profile = "x"\ndata_root = ""\nseed = 0\ndevice = "cpu"\nn = 1\ndie = False'

READS_DATA = """
from fercore import results
from fercore.datasets import load
from fercore.synth.crowd import find_votes
import os
if die:
    os._exit(3)  # the kernel dies mid-run
try:
    results.record("toy.jaffe_images", len(load("jaffe", data_root)))
except FileNotFoundError:
    print("no JAFFE; skipped")
results.record("toy.n_squared", n * n)
results.record("toy.votes_found", find_votes(data_root) is not None)
"""


def _notebook(path: Path, body: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"),
                nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(textwrap.dedent(body))]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def book(tmp_path, world_copy, monkeypatch):
    """A one-chapter book whose chapter reads JAFFE and the crowd votes from a tiny world copy."""
    repo = tmp_path / "repo"
    package = repo / "pkg" / "fercore"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    profiles = {"p": {"common": {"data_root": str(world_copy), "seed": 0}, "chapters": {"reads": {"n": 3}}}}
    (repo / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    _notebook(repo / "notebooks" / "01_reads.ipynb", READS_DATA)
    monkeypatch.setattr(parameters, "CHAPTERS", {"reads": "01_reads"})
    monkeypatch.setattr(parameters, "PROFILES_FILE", repo / "profiles.yaml")
    monkeypatch.setattr(run_state, "PACKAGE_DIR", package)
    monkeypatch.chdir(repo)
    return repo


def run(book, **kwargs):
    return runner.run_chapters(["reads"], "p", device="cpu", repo=book, log=lambda *_: None, **kwargs)[0]


def status(book, **kwargs):
    return run_state.chapter_status("p", book, device="cpu", **kwargs)[0]


def our_staging():
    return list(Path(tempfile.gettempdir()).glob(f"fercore-reads-pid{os.getpid()}-*"))


def test_good_run_then_skipped_dataset_fails_and_keeps_the_good_results(book, world_copy, capsys):
    assert run(book).status == "ran" and status(book)["status"] == "fresh"
    good_nb = run_state.executed_path("reads", "p", book).read_bytes()
    good_results = (book / "results/p/reads.json").read_bytes()
    shutil.rmtree(world_copy / "synth-jaffe")
    assert status(book)["status"] == "stale", "a dataset removed under the data root went unnoticed"

    rc = cli.main(["run", "reads", "--profile", "p", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1 and "ran without the data it was asked for" in err and "dataset jaffe not read" in err
    assert str(world_copy) in err and "--allow-missing" in err
    assert run_state.executed_path("reads", "p", book).read_bytes() == good_nb, "the good notebook was replaced"
    assert (book / "results/p/reads.json").read_bytes() == good_results, "the good results were replaced"
    assert run_state.failed_path("reads", "p", book).is_file()
    assert status(book)["status"] == "failed"
    assert not our_staging(), "a staging folder was left behind"


def test_allowed_skip_is_recorded_and_never_passes_as_a_plain_success(book, world_copy):
    shutil.rmtree(world_copy / "synth-jaffe")
    outcome = run(book, allow_missing=True)
    assert outcome.status == "ran"
    saved = json.loads((book / "results/p/reads.json").read_text())
    assert [n["what"] for n in saved["notes"]] == ["dataset jaffe"]
    assert status(book)["status"] == "partial"
    assert run(book).status == "failed", "a run that skipped data was served from the cache as fresh"


def test_simulated_votes_where_real_ones_were_expected_fail(book, world_copy):
    shutil.rmtree(world_copy / "synth-rafdb" / "crowd")
    outcome = run(book)
    assert outcome.status == "failed" and "crowd votes simulated" in outcome.message
    assert "votes.csv" in outcome.message


def test_kernel_death_keeps_last_good_notebook_and_results(book):
    assert run(book).status == "ran"
    good_results = (book / "results/p/reads.json").read_bytes()
    outcome = runner.run_chapters(["reads"], "p", {"die": True}, device="cpu", repo=book, log=lambda *_: None)[0]
    assert outcome.status == "failed" and "DeadKernelError" in outcome.message
    assert (book / "results/p/reads.json").read_bytes() == good_results
    assert run_state.executed_path("reads", "p", book).is_file()
    assert run_state.results_freshness("p", book) == {"reads": "fresh"}, "the good run's results are still current"
    assert not our_staging()


def test_results_of_other_parameters_are_stale_in_the_report(book):
    assert runner.run_chapters(["reads"], "p", parameters.parse_overrides(["n=5"]), device="cpu", repo=book,
                               log=lambda *_: None)[0].status == "ran"
    assert run_state.results_freshness("p", book) == {"reads": "stale"}
    numbers = pd.DataFrame([["rafdb", "T", "row", "col", 25.0, "", "toy.n_squared"]], columns=paper.NUMBER_COLUMNS)
    claims = [{"paper": "rafdb", "claim": "n² beats n", "better": "toy.n_squared", "worse": "toy.votes_found"}]
    text = report.report_markdown("p", book / "results", numbers, claims, run_state.results_freshness("p", book))
    assert "**stale**" in text and "reproduced" not in text.replace("not reproduced", "")
    assert "| row | col | 25 | stale |" in text
    assert run(book).status == "ran"
    fresh = report.report_markdown("p", book / "results", numbers, claims, run_state.results_freshness("p", book))
    assert "| row | col | 25 | 9.000 |" in fresh and "**reproduced**" in fresh


@pytest.mark.parametrize("change", ["added", "removed", "resized", "touched"])
def test_any_file_change_under_the_data_root_makes_the_run_stale(book, world_copy, change):
    assert run(book).status == "ran"
    target = world_copy / "synth-jaffe" / "semantic_ratings.txt"
    if change == "added":
        (world_copy / "synth-jaffe" / "extra.txt").write_text("x")
    elif change == "removed":
        target.unlink()
    elif change == "resized":
        target.write_text(target.read_text() + "\n")
    else:
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    assert status(book)["status"] == "stale", change


def test_verify_hashes_catch_a_same_size_same_time_edit(book, world_copy):
    assert run(book).status == "ran"
    target = world_copy / "synth-jaffe" / "semantic_ratings.txt"
    stat = target.stat()
    text = target.read_text()
    target.write_text(text.replace("1", "2", 1))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert status(book)["status"] == "fresh", "sizes and times alone cannot see this edit"
    assert status(book, verify=True)["status"] == "stale"


def test_truncated_state_file_reads_as_failed_naming_it_and_is_replaced(book):
    assert run(book).status == "ran"
    state = book / "results/p/runs/reads.json"
    state.write_text(state.read_text()[:25])
    row = status(book)
    assert row["status"] == "failed" and str(state) in row["error"] and "unreadable run state" in row["error"]
    assert run(book).status == "ran" and status(book)["status"] == "fresh"


def test_missing_data_root_fails_before_running(book):
    with pytest.raises(FileNotFoundError, match="data_root '/nonexistent': folder not found"):
        runner.run_chapters(["reads"], "p", {"data_root": "/nonexistent"}, device="cpu", repo=book)
    assert not (book / "results").exists()


@pytest.mark.parametrize("data_root", ["data/../..", "data/..", "data/x/../../.."])
def test_data_root_escaping_data_is_refused(book, data_root):
    with pytest.raises(ValueError, match="leaves the project's data/ folder"):
        runner.run_chapters(["reads"], "p", parameters.parse_overrides([f"data_root={data_root}"]), device="cpu", repo=book)
    assert runner.is_project_data("data/smoke", book) and not runner.is_project_data(data_root, book)


def test_interrupted_run_removes_staging_and_kernel_files_and_restores_the_environment(book, monkeypatch):
    import papermill

    seen = {}

    def interrupted(*args, **kwargs):
        runtime = Path(os.environ["JUPYTER_RUNTIME_DIR"])
        runtime.mkdir(parents=True)
        (runtime / "kernel-123.json").write_text("{}")
        seen["runtime"] = runtime
        fd, seen["connection_file"] = tempfile.mkstemp(".json")  # as jupyter_client writes it
        os.close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    before = {k: os.environ.get(k) for k in ("JUPYTER_RUNTIME_DIR", "FERCORE_METRICS_FILE")}
    system_tmp = tempfile.gettempdir()
    with pytest.raises(KeyboardInterrupt):
        run(book)
    assert not seen["runtime"].exists() and not Path(seen["connection_file"]).exists(), \
        "the kernel connection file was left behind"
    assert tempfile.gettempdir() == system_tmp, "the process's temporary folder was not restored"
    assert not our_staging()
    assert {k: os.environ.get(k) for k in before} == before
    assert run_state.read_state("reads", "p", book) is None, "an interrupted run was recorded"


def test_staging_folders_of_killed_runs_are_removed(book):
    dead = Path(tempfile.mkdtemp(prefix="fercore-reads-pid999999999-"))
    (dead / "out.ipynb").write_text("{}")
    alive = Path(tempfile.mkdtemp(prefix=f"fercore-reads-pid{os.getppid()}-"))
    try:
        removed = runner.clean_stale_staging()
        assert dead in removed and not dead.exists() and alive.exists()
    finally:
        shutil.rmtree(alive, ignore_errors=True)


def test_sigterm_is_handled_like_ctrl_c(monkeypatch, capsys):
    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runner, "run_chapters", killed)
    assert cli.main(["run", "data", "--profile", "smoke", "--device", "cpu"]) == 130
    assert "interrupted (SIGTERM)" in capsys.readouterr().err


def test_data_check_regenerates_a_tampered_synthetic_dataset(world_copy):
    from faultkit import TINY

    victim = next((world_copy / "synth-sfew" / "Train").rglob("*.png"))
    victim.unlink()
    again = world.materialize(world_copy, "smoke", seed=3, sizes=TINY, workers=1)
    assert again["generated_now"] == ["sfew"] and "1 file(s) removed" in again["repaired"]["sfew"]
    assert victim.is_file()
    ratings = world_copy / "synth-jaffe" / "semantic_ratings.txt"
    stat = ratings.stat()
    ratings.write_text(ratings.read_text().replace("1", "2", 1))
    os.utime(ratings, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert world.materialize(world_copy, "smoke", seed=3, sizes=TINY, workers=1)["generated_now"] == []
    verified = world.materialize(world_copy, "smoke", seed=3, sizes=TINY, workers=1, verify=True)
    assert verified["generated_now"] == ["jaffe"] and "changed" in verified["repaired"]["jaffe"]
