"""Run the book's chapters with papermill: each stale chapter executed in its own kernel, its
executed notebook, results and run state written atomically, a failure kept apart from the last
good run. The parameters are :mod:`fercore.parameters`'s, the cache and freshness
:mod:`fercore.run_state`'s; :mod:`fercore.book` builds the book from the executed notebooks.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

import fercore
from fercore import parameters
from fercore.models import PROFILE_DIR_ENV
from fercore.progress import progress
from fercore.results import METRICS_ENV, NOTES_ENV, write_json_atomic
from fercore.run_state import (
    banner,
    cache_key,
    data_fingerprint,
    describe_notes,
    executed_path,
    failed_path,
    is_fresh,
    profile_dir,
    read_state,
    state_path,
    write_notebook_atomic,
)


class ChapterError(RuntimeError):
    """A chapter notebook raised; carries the failing cell and the exception text."""


@dataclass
class Outcome:
    """What happened to one chapter in a run."""

    chapter: str
    status: str  # "ran", "cached" or "failed"
    seconds: float = 0.0
    message: str = ""


def _git_commit(repo=".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def is_project_data(data_root, repo=".") -> bool:
    """True when ``data_root`` lies inside the project's ``data/`` folder (the synthetic world the
    runner may write); ``data/../..`` and links out of ``data/`` do not."""
    if not data_root:
        return False
    base = (Path(repo) / "data").resolve()
    target = (Path(repo) / data_root).resolve()
    return target != base and base in target.parents


def check_data_root(params: dict, repo=".") -> None:
    """A chapter's ``data_root``: a folder under ``data/`` (generated here) or an existing folder."""
    data_root = str(params.get("data_root", "") or "")
    if not data_root:
        return
    inside = is_project_data(data_root, repo)
    if not inside and not Path(data_root).is_absolute() and Path(data_root).parts[0] == "data":
        raise ValueError(f"data_root {data_root!r} leaves the project's data/ folder; "
                         "give data/<name> for the synthetic world or the path of a real copy")
    if not inside and not (Path(repo) / data_root).is_dir():
        raise FileNotFoundError(f"data_root {data_root!r}: folder not found")


def materialize_data(params: dict, repo=".", verify=False, log=print) -> None:
    """Generate the embedded synthetic world when a chapter's ``data_root`` is the project's own;
    a dataset whose files changed since generation is generated again (and said so)."""
    check_data_root(params, repo)
    data_root = params.get("data_root", "")
    if not is_project_data(data_root, repo):
        return  # a user's real copy: never write there
    from fercore.synth.world import materialize

    world = materialize(Path(repo) / data_root, params["profile"], seed=params.get("seed", 0), verify=verify)
    for unit, reason in world.get("repaired", {}).items():
        log(f"data: {data_root}: {reason}; {unit} generated again")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging() -> list[Path]:
    """Remove the staging folders of runs whose process is gone (killed runs); returns them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob("fercore-*-pid*-*"):
        pid = folder.name.split("-pid")[-1].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def execute_chapter(chapter: str, params: dict, repo=".", timeout=None, allow_missing=False) -> float:
    """Execute one chapter with papermill, write its executed notebook and results atomically.

    The run fails (:class:`ChapterError`, with the failing cell and exception) when the notebook
    raises, and also when it skipped data it was asked to read or simulated data it was asked to
    read for real (:func:`fercore.results.note`) unless ``allow_missing``. A failed run leaves
    the last good executed notebook and results in place; its own notebook goes beside them
    (:func:`failed_path`). Staging files and the kernel's connection file live in one temporary
    folder, removed on every exit path.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    repo = Path(repo).resolve()
    profile = params["profile"]
    out_path = executed_path(chapter, profile, repo)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"fercore-{chapter}-pid{os.getpid()}-"))
    try:
        metrics_file, notes_file = staging / "metrics.json", staging / "notes.json"
        env = {METRICS_ENV: str(metrics_file), NOTES_ENV: str(notes_file), "TQDM_DISABLE": "1", "FERCORE_QUIET": "1",
               "JUPYTER_RUNTIME_DIR": str(staging / "runtime"),
               PROFILE_DIR_ENV: str(profile_dir(profile, repo).resolve())}
        env_backup = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        system_tmp, tempfile.tempdir = tempfile.tempdir, str(staging)  # the kernel's connection file goes there
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        error = None
        try:
            papermill.execute_notebook(
                str(parameters.notebook_path(chapter, repo)),
                str(staging / "out.ipynb"),
                parameters=params,
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(repo),
                execution_timeout=timeout,
                extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no kernel start-up chatter
            )
        except PapermillExecutionError as e:
            error = f"cell {e.exec_count} raised {e.ename}: {e.evalue}"
        except Exception as e:  # a dead kernel, a missing kernel, a timeout
            error = f"{type(e).__name__}: {e}"
        finally:
            tempfile.tempdir = system_tmp
            for k, v in env_backup.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        seconds = time.perf_counter() - t0
        notes = json.loads(notes_file.read_text()) if notes_file.is_file() else []
        if notes and not error and not allow_missing:
            error = f"ran without the data it was asked for — {describe_notes(notes)} (to accept this, run with --allow-missing)"
        state = {"chapter": chapter, "profile": profile, "started": started.isoformat(timespec="seconds"),
                 "seconds": round(seconds, 2), "notes": notes}
        executed = staging / "out.ipynb"
        if error:
            kept = ""
            if executed.is_file():
                nb = nbformat.read(executed, as_version=4)
                banner(nb, f"```{{error}}\nThis run failed (profile `{profile}`): {error}\n```")
                write_notebook_atomic(nb, failed_path(chapter, profile, repo))
                kept = f"failed notebook at {failed_path(chapter, profile, repo)}"
            previous = read_state(chapter, profile, repo) or {}
            write_json_atomic(state_path(chapter, profile, repo),
                              {**state, "status": "failed", "error": error, "key": None,
                               "last_ok": previous.get("last_ok") or (previous if previous.get("status") == "ok" else None)})
            good = "; the last good run's notebook and results are kept" if out_path.is_file() else ""
            raise ChapterError(f"{chapter}: {error} ({kept or 'no notebook was written'}{good})")
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        key = cache_key(chapter, params, repo)
        nb = nbformat.read(executed, as_version=4)
        if notes:
            banner(nb, f"```{{warning}}\nThis run was allowed to go without data: {describe_notes(notes)}\n```")
        write_notebook_atomic(nb, out_path)
        data_root = params.get("data_root")
        write_json_atomic(
            profile_dir(profile, repo) / f"{chapter}.json",
            {
                **state,
                "parameters": params,
                "seed": params.get("seed"),
                "device": params.get("device"),
                "fercore_version": fercore.__version__,
                "commit": _git_commit(repo),
                "key": key,
                "metrics": metrics,
            },
        )
        ok = {**state, "status": "ok", "key": key,
              "data_content": data_fingerprint(repo / data_root, verify=True) if data_root else None}
        write_json_atomic(state_path(chapter, profile, repo), ok)
        failed_path(chapter, profile, repo).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return seconds


def run_chapters(chapters, profile: str, overrides=None, device="auto", repo=".", force=False, log=print,
                 allow_missing=False, verify=False, cluster=None) -> list[Outcome]:
    """Run chapters in book order, skipping fresh ones; a failure stops only that chapter.

    ``allow_missing`` lets a chapter that skipped data (or simulated votes) end as a success;
    ``verify`` hashes the data's content for the freshness check (else sizes and times).
    ``cluster`` (``local:N`` or a scheduler address): the chapters run side by side and send
    their units to that Dask cluster (:mod:`fercore.cluster`).
    """
    if cluster:
        from fercore.cluster import run_chapters_on_cluster

        return run_chapters_on_cluster(cluster, chapters, profile, overrides, device, repo, force, log,
                                       allow_missing=allow_missing, verify=verify)
    chapters = list(parameters.CHAPTERS) if not chapters else list(chapters)
    for chapter in chapters:
        parameters.notebook_path(chapter, repo)  # unknown ids fail before anything runs
    parameters.get_profile(profile)
    device = parameters.device_name(device)
    clean_stale_staging()
    order = [c for c in parameters.CHAPTERS if c in chapters]
    params_by_chapter = {c: parameters.chapter_parameters(c, profile, overrides, device, repo) for c in order}
    outcomes = []
    for root_params in {p.get("data_root"): p for p in params_by_chapter.values()}.values():
        materialize_data(root_params, repo, verify=verify, log=log)
    for chapter in progress(order, desc=f"chapters ({profile})", unit="chapter"):
        params = params_by_chapter[chapter]
        state = read_state(chapter, profile, repo)
        if not force and is_fresh(state, chapter, params, repo, verify, allow_missing):
            outcomes.append(Outcome(chapter, "cached", state.get("seconds", 0.0)))
            log(f"{chapter}: fresh, not re-run")
            continue
        log(f"{chapter}: running ({profile}, {device})")
        try:
            seconds = execute_chapter(chapter, params, repo, allow_missing=allow_missing)
            outcomes.append(Outcome(chapter, "ran", seconds))
            log(f"{chapter}: done in {seconds:.1f} s")
        except ChapterError as e:
            outcomes.append(Outcome(chapter, "failed", message=str(e)))
            log(f"{chapter}: FAILED — {e}")
    return outcomes
