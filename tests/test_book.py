"""End to end: every chapter through papermill on the smoke profile, then the book with -W."""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from fercore import book, parameters, run_state, runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run():
    return runner.run_chapters(None, "smoke", device="cpu")


@pytest.mark.parametrize("chapter", list(parameters.CHAPTERS))
def test_chapter_runs_on_smoke_profile(smoke_run, chapter):
    outcome = next(o for o in smoke_run if o.chapter == chapter)
    assert outcome.status in ("ran", "cached"), outcome.message


def test_status_reports_every_chapter_fresh(smoke_run):
    out = subprocess.run(
        [sys.executable, "-m", "fercore.cli", "status", "--profile", "smoke", "--device", "cpu"],
        capture_output=True, text=True, check=True,
    ).stdout
    for chapter in parameters.CHAPTERS:
        assert f"{chapter} " in out
    rows = run_state.chapter_status("smoke", device="cpu")
    assert [r["status"] for r in rows] == ["fresh"] * len(rows), rows


def test_book_builds_with_warnings_as_errors(served_book):
    root, _ = served_book
    for name in parameters.CHAPTERS.values():
        assert (root / "book" / "chapters" / f"{name}.html").is_file()


CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path("test-artifacts") / "screenshots"


@pytest.fixture(scope="module")
def served_book(smoke_run):
    """The smoke book built and served on a loopback port."""
    book.stage_book("smoke")
    index = book.build_book(strict=True)
    root = index.parent
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _pages(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*.html") if p.name not in ("genindex.html", "search.html")
        and "_static" not in p.parts and p.stat().st_size > 200
    )


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium not installed (make browser)")
def test_every_page_loads_cleanly_in_a_browser(served_book):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium is required in CI (make browser installs it)"
    root, base = served_book
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile_dir:
        browser = p.chromium.launch_persistent_context(
            profile_dir,
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            viewport={"width": 1280, "height": 900},
        )
        page = browser.new_page()
        events = []
        page.on("pageerror", lambda e: events.append(f"page error: {e}"))
        page.on("console", lambda m: events.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("requestfailed", lambda r: events.append(f"request failed: {r.url}"))
        page.on("response", lambda r: events.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        for rel in _pages(root):
            events.clear()
            page.goto(f"{base}/{rel}")
            page.wait_for_load_state("networkidle")
            if page.evaluate("document.querySelectorAll('.math').length") > 0:
                page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=10_000)
            broken_images = page.evaluate(
                "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
            )
            problems += [f"{rel}: {e}" for e in events]
            problems += [f"{rel}: image did not load: {src}" for src in broken_images]
            links = page.evaluate(
                "[...document.querySelectorAll('a[href]')].map(a => a.href)"
                ".filter(h => h.startsWith(location.origin))"
            )
            for href in links:
                target = root / href.split("#")[0].split("?")[0][len(base) + 1:]
                if target.is_dir():
                    target = target / "index.html"
                if not target.is_file():
                    problems.append(f"{rel}: internal link to a missing page: {href}")
            if rel.startswith("book/chapters/"):
                figures = page.evaluate("document.querySelectorAll('.cell_output img').length")
                tables = page.evaluate("document.querySelectorAll('table').length")
                if figures == 0 or tables == 0:
                    problems.append(f"{rel}: a chapter page needs figures and tables ({figures} images, {tables} tables)")
            page.screenshot(path=str(ARTIFACTS / (rel.replace("/", "_") + ".png")), full_page=True)
        browser.close()
    assert not problems, "\n".join(problems)
