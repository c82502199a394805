"""End to end: every chapter through papermill on the smoke profile, then the book with -W."""

import subprocess
import sys

import pytest

from fercore import runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run():
    return runner.run_chapters(None, "smoke", device="cpu")


@pytest.mark.parametrize("chapter", list(runner.CHAPTERS))
def test_chapter_runs_on_smoke_profile(smoke_run, chapter):
    outcome = next(o for o in smoke_run if o.chapter == chapter)
    assert outcome.status in ("ran", "cached"), outcome.message


def test_status_reports_every_chapter_fresh(smoke_run):
    out = subprocess.run(
        [sys.executable, "-m", "fercore.cli", "status", "--profile", "smoke", "--device", "cpu"],
        capture_output=True, text=True, check=True,
    ).stdout
    for chapter in runner.CHAPTERS:
        assert f"{chapter} " in out
    rows = runner.chapter_status("smoke", device="cpu")
    assert [r["status"] for r in rows] == ["fresh"] * len(rows), rows


def test_book_builds_with_warnings_as_errors(smoke_run):
    runner.stage_book("smoke")
    index = runner.build_book(strict=True)
    assert index.is_file()
    for name in runner.CHAPTERS.values():
        assert (index.parent / "book" / "chapters" / f"{name}.html").is_file()
