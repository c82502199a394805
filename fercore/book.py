"""The book from the executed chapters: each profile's executed notebooks staged into
``book/chapters/`` (a failed or never-run chapter with a banner saying so), the table of runs, the
report and the student labs, then the HTML build with Jupyter Book.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from fercore import parameters
from fercore.labs import stage_student_labs
from fercore.report import write_report
from fercore.run_state import (
    banner,
    executed_path,
    failed_path,
    read_results,
    read_state,
    results_freshness,
    write_notebook_atomic,
)


def _sync_file(src: Path, dst: Path) -> None:
    """Copy only when the content differs, so Sphinx's incremental build stays incremental."""
    if dst.is_file() and dst.read_bytes() == src.read_bytes():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def stage_book(profile: str, repo=".") -> None:
    """Put each chapter's executed notebook for ``profile`` into ``book/chapters/``.

    A chapter never run for this profile gets its source notebook with a banner saying so.
    """
    repo = Path(repo)
    for chapter, name in parameters.CHAPTERS.items():
        executed = executed_path(chapter, profile, repo)
        failed = failed_path(chapter, profile, repo)
        target = repo / "book" / "chapters" / f"{name}.ipynb"
        state = read_state(chapter, profile, repo) or {}
        if executed.is_file() and state.get("status") == "failed":
            nb = nbformat.read(executed, as_version=4)
            banner(nb, f"```{{warning}}\nThe latest run of this chapter failed ({state.get('error', '')}); "
                        f"this is the last good run, kept as it was.\n```")
            staged = repo / "book" / "_generated" / f"{name}.last-good.ipynb"
            write_notebook_atomic(nb, staged)
            _sync_file(staged, target)
            continue
        if executed.is_file() or failed.is_file():
            _sync_file(executed if executed.is_file() else failed, target)
            continue
        nb = nbformat.read(parameters.notebook_path(chapter, repo), as_version=4)
        banner(nb, f"```{{warning}}\nThis chapter has not been executed for profile `{profile}`; run `fercore run {chapter} --profile {profile}`.\n```")
        staged = repo / "book" / "_generated" / f"{name}.unexecuted.ipynb"
        write_notebook_atomic(nb, staged)
        _sync_file(staged, target)
    write_run_table(profile, repo)
    write_report(profile, repo, freshness=results_freshness(profile, repo))
    stage_student_labs(repo)


def write_run_table(profile: str, repo=".") -> None:
    """``book/_generated/runs.md``: each chapter's last run for the profile (included by a page)."""
    lines = [
        f"Profile `{profile}`:\n",
        "| chapter | status | started (UTC) | seconds | device |",
        "|---|---|---|---:|---|",
    ]
    for chapter in parameters.CHAPTERS:
        state = read_state(chapter, profile, repo) or {}
        device = (read_results(chapter, profile, repo) or {}).get("device", "")
        seconds = f"{state['seconds']:.0f}" if "seconds" in state else ""
        lines.append(f"| {chapter} | {state.get('status', 'never run')} | {state.get('started', '')} | {seconds} | {device} |")
    target = Path(repo) / "book" / "_generated" / "runs.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if not target.is_file() or target.read_text() != text:
        target.write_text(text)


def install_mathjax(repo=".") -> Path:
    """Copy MathJax (from the installed ``django-static-mathjax`` wheel) where the build serves it.

    The pages then render math offline instead of loading MathJax from a CDN.
    """
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("MathJax not found: pip install django-static-mathjax==3.2.2.1")
    source = Path(spec.submodule_search_locations[0]) / "static" / "mathjax" / "es5" / "tex-svg.js"
    target = Path(repo) / "book" / "_mathjax" / "tex-svg.js"
    _sync_file(source, target)
    return target


def build_book(repo=".", strict=True) -> Path:
    """Build the HTML book with Jupyter Book 1.x (no execution); returns the path of index.html."""
    repo = Path(repo).resolve()
    install_mathjax(repo)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe if exe.is_file() else "jupyter-book"), "build", str(repo), "--builder", "html"]
    if strict:
        cmd += ["--warningiserror", "--keep-going"]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    return repo / "_build" / "html" / "index.html"
