"""Run the book's chapters with papermill: profiles, parameters, cache, results, book build.

A chapter is re-executed only when its cache key changes: the key hashes the notebook's code and
markdown, the resolved parameters, the source of every ``fercore`` module the notebook imports
(transitively) and the manifest of the synthetic data it reads. Executed notebooks and results
live under ``results/<profile>/``; ``fercore book`` copies them into ``book/chapters/`` and builds.
"""

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import yaml

import fercore
from fercore.progress import progress
from fercore.labs import stage_student_labs
from fercore.report import write_report
from fercore.results import METRICS_ENV, write_json_atomic

CHAPTERS = {
    "data": "01_data",
    "em": "02_em",
    "stats": "03_stats",
    "handcrafted": "04_handcrafted",
    "dlp_dbm": "05_dlp_dbm",
    "domain_adaptation": "06_domain_adaptation",
    "sjmt": "07_sjmt",
    "semantic_ae": "08_semantic_ae",
}
"""Stable chapter ids and their notebook names, in book order."""

INJECTED = ("profile", "device")
"""Parameters the runner sets itself on every chapter."""

PROFILES_FILE = Path(fercore.__file__).with_name("profiles.yaml")
PACKAGE_DIR = Path(fercore.__file__).parent


class ChapterError(RuntimeError):
    """A chapter notebook raised; carries the failing cell and the exception text."""


@dataclass
class Outcome:
    """What happened to one chapter in a run."""

    chapter: str
    status: str  # "ran", "cached" or "failed"
    seconds: float = 0.0
    message: str = ""


# ---------------------------------------------------------------- profiles and parameters


def load_profiles(path=None) -> dict:
    """All profiles from the YAML file, checked for the expected shape."""
    path = Path(path or PROFILES_FILE)
    try:
        profiles = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(profiles, dict):
        raise ValueError(f"{path}: expected a mapping of profile names")
    for name, body in profiles.items():
        if not isinstance(body, dict) or not isinstance(body.get("chapters", {}), dict):
            raise ValueError(f"{path}: profile {name!r} needs a 'chapters' mapping")
    return profiles


def get_profile(name: str, profiles=None) -> dict:
    """One profile by name, with a clear error listing the known ones."""
    profiles = load_profiles() if profiles is None else profiles
    if name not in profiles:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]


def notebook_path(chapter: str, repo=".") -> Path:
    """The source notebook of a chapter id."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; known: {', '.join(CHAPTERS)}")
    return Path(repo) / "notebooks" / f"{CHAPTERS[chapter]}.ipynb"


def parameters_cell(nb) -> nbformat.NotebookNode:
    """The single code cell tagged ``parameters``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def notebook_parameters(path) -> dict:
    """Default values of a notebook's parameters cell (simple ``name = literal`` lines)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    try:
        cell = parameters_cell(nb)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    defaults = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(f"{path}: parameter {node.targets[0].id!r} (line {node.lineno}) is not a literal") from None
    return defaults


def parse_overrides(pairs) -> dict:
    """``["key=value", ...]`` from the command line; values are read as YAML scalars."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"-p {pair!r}: expected key=value")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is visible, else ``cpu``."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {device!r}")
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def chapter_parameters(chapter: str, profile: str, overrides=None, device="cpu", repo=".", profiles=None) -> dict:
    """The parameters a chapter runs with: profile common + chapter block + overrides + injected."""
    body = get_profile(profile, profiles)
    defaults = notebook_parameters(notebook_path(chapter, repo))
    params = {**body.get("common", {}), **(body["chapters"].get(chapter) or {}), **(overrides or {})}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"chapter {chapter!r}: parameter(s) {', '.join(unknown)} are not in the parameters cell of "
            f"{notebook_path(chapter, repo)}"
        )
    params.update(profile=profile, device=device)
    return params


# ---------------------------------------------------------------- cache key


def _module_file(name: str) -> Path | None:
    """The source file of a ``fercore`` module name, if it exists."""
    parts = name.split(".")[1:]
    if not parts:
        candidates = [PACKAGE_DIR / "__init__.py"]
    else:
        rel = Path(*parts)
        candidates = [PACKAGE_DIR / rel.with_suffix(".py"), PACKAGE_DIR / rel / "__init__.py"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _imported_fercore_modules(source: str, package: str = "fercore") -> set[str]:
    """Names of ``fercore`` modules imported by a piece of code (absolute and relative imports)."""
    names = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "fercore")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "fercore":
                continue
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def fercore_dependencies(code: str) -> list[Path]:
    """Source files of every ``fercore`` module the code imports, followed transitively."""
    seen: dict[str, Path] = {}
    todo = list(_imported_fercore_modules(code)) + ["fercore"]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            prefix = ".".join(parts[:i])
            if prefix in seen:
                continue
            path = _module_file(prefix)
            if path is None:
                continue
            seen[prefix] = path
            package = prefix if path.name == "__init__.py" else ".".join(prefix.split(".")[:-1])
            todo.extend(_imported_fercore_modules(path.read_text(), package))
    return sorted(set(seen.values()))


def _notebook_code(nb) -> str:
    """The notebook's code, with IPython magics and shell lines blanked so ``ast`` can parse it."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines += ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.source.splitlines()]
    return "\n".join(lines)


def cache_key(chapter: str, params: dict, repo=".") -> str:
    """Hash of what decides a chapter's output: notebook, parameters, imported library code, data."""
    nb = nbformat.read(notebook_path(chapter, repo), as_version=4)
    digest = hashlib.sha256()
    for cell in nb.cells:
        digest.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for path in fercore_dependencies(_notebook_code(nb)):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes())
    data_root = params.get("data_root")
    if data_root:
        root = Path(repo) / data_root
        for manifest in sorted(root.glob("manifest.json")) + sorted(root.glob("*/manifest.json")):
            digest.update(manifest.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- running chapters


def profile_dir(profile: str, repo=".") -> Path:
    return Path(repo) / "results" / profile


def _state_path(chapter: str, profile: str, repo=".") -> Path:
    return profile_dir(profile, repo) / "runs" / f"{chapter}.json"


def executed_path(chapter: str, profile: str, repo=".") -> Path:
    """Where the executed copy of a chapter is kept for a profile."""
    return profile_dir(profile, repo) / "chapters" / f"{CHAPTERS[chapter]}.ipynb"


def read_state(chapter: str, profile: str, repo=".") -> dict | None:
    path = _state_path(chapter, profile, repo)
    return json.loads(path.read_text()) if path.is_file() else None


def _git_commit(repo=".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _banner(nb, text: str) -> None:
    """Put an admonition at the top of an executed notebook (after its title cell)."""
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["fercore-banner"]
    index = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(index, cell)


def _write_notebook_atomic(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def materialize_data(params: dict, repo=".") -> None:
    """Generate the embedded synthetic world when a chapter's ``data_root`` is the project's own."""
    data_root = params.get("data_root", "")
    root = Path(repo) / data_root
    if not data_root or Path(data_root).is_absolute() or Path(data_root).parts[0] != "data":
        return  # a user's real copy: never write there
    from fercore.synth.world import materialize

    materialize(root, params["profile"], seed=params.get("seed", 0))


def execute_chapter(chapter: str, params: dict, repo=".", timeout=None) -> float:
    """Execute one chapter with papermill, write its executed notebook and results atomically.

    Raises :class:`ChapterError` (with the failing cell and exception) when the notebook raises;
    the failed notebook is kept, with a banner, where the executed copy goes.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    repo = Path(repo).resolve()
    profile = params["profile"]
    out_path = executed_path(chapter, profile, repo)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"fercore-{chapter}-"))
    metrics_file = staging / "metrics.json"
    env_backup = {k: os.environ.get(k) for k in (METRICS_ENV, "TQDM_DISABLE", "FERCORE_QUIET")}
    os.environ.update({METRICS_ENV: str(metrics_file), "TQDM_DISABLE": "1", "FERCORE_QUIET": "1"})
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(notebook_path(chapter, repo)),
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
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    state = {"chapter": chapter, "profile": profile, "started": started.isoformat(timespec="seconds"), "seconds": round(seconds, 2)}
    executed = staging / "out.ipynb"
    try:
        if error:
            if executed.is_file():
                nb = nbformat.read(executed, as_version=4)
                _banner(nb, f"```{{error}}\nThis chapter failed in its last run (profile `{profile}`): {error}\n```")
                _write_notebook_atomic(nb, out_path)
            write_json_atomic(_state_path(chapter, profile, repo), {**state, "status": "failed", "error": error, "key": None})
            raise ChapterError(f"{chapter}: {error} (notebook kept at {out_path})")
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        nb = nbformat.read(executed, as_version=4)
        _write_notebook_atomic(nb, out_path)
        write_json_atomic(
            profile_dir(profile, repo) / f"{chapter}.json",
            {
                **state,
                "parameters": params,
                "seed": params.get("seed"),
                "device": params.get("device"),
                "fercore_version": fercore.__version__,
                "commit": _git_commit(repo),
                "metrics": metrics,
            },
        )
        write_json_atomic(_state_path(chapter, profile, repo), {**state, "status": "ok", "key": cache_key(chapter, params, repo)})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return seconds


def run_chapters(chapters, profile: str, overrides=None, device="auto", repo=".", force=False, log=print,
                 cluster=None) -> list[Outcome]:
    """Run chapters in book order, skipping fresh ones; a failure stops only that chapter.

    ``cluster`` (``local:N`` or a scheduler address): the chapters run side by side and send
    their units to that Dask cluster (:mod:`fercore.cluster`)."""
    if cluster:
        from fercore.cluster import run_chapters_on_cluster

        return run_chapters_on_cluster(chapters, profile, overrides, device, repo, force, log, cluster)
    chapters = list(CHAPTERS) if not chapters else list(chapters)
    for chapter in chapters:
        notebook_path(chapter, repo)  # unknown ids fail before anything runs
    device = resolve_device(device)
    order = [c for c in CHAPTERS if c in chapters]
    params_by_chapter = {c: chapter_parameters(c, profile, overrides, device, repo) for c in order}
    outcomes = []
    for root_params in {p.get("data_root"): p for p in params_by_chapter.values()}.values():
        materialize_data(root_params, repo)
    for chapter in progress(order, desc=f"chapters ({profile})", unit="chapter"):
        params = params_by_chapter[chapter]
        state = read_state(chapter, profile, repo)
        if not force and state and state.get("status") == "ok" and state.get("key") == cache_key(chapter, params, repo):
            outcomes.append(Outcome(chapter, "cached", state.get("seconds", 0.0)))
            log(f"{chapter}: fresh, not re-run")
            continue
        log(f"{chapter}: running ({profile}, {device})")
        try:
            seconds = execute_chapter(chapter, params, repo)
            outcomes.append(Outcome(chapter, "ran", seconds))
            log(f"{chapter}: done in {seconds:.1f} s")
        except ChapterError as e:
            outcomes.append(Outcome(chapter, "failed", message=str(e)))
            log(f"{chapter}: FAILED — {e}")
    return outcomes


def chapter_status(profile: str, repo=".", device="auto") -> list[dict]:
    """Each chapter's state for a profile: fresh, stale, failed or never run."""
    device = resolve_device(device)
    rows = []
    for chapter in CHAPTERS:
        state = read_state(chapter, profile, repo)
        if state is None:
            label = "never run"
        elif state["status"] == "failed":
            label = "failed"
        else:
            params = chapter_parameters(chapter, profile, None, device, repo)
            label = "fresh" if state.get("key") == cache_key(chapter, params, repo) else "stale"
        rows.append(
            {
                "chapter": chapter,
                "status": label,
                "when": (state or {}).get("started", ""),
                "seconds": (state or {}).get("seconds"),
                "error": (state or {}).get("error", ""),
            }
        )
    return rows


# ---------------------------------------------------------------- the book


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
    for chapter, name in CHAPTERS.items():
        executed = executed_path(chapter, profile, repo)
        target = repo / "book" / "chapters" / f"{name}.ipynb"
        if executed.is_file():
            _sync_file(executed, target)
            continue
        nb = nbformat.read(notebook_path(chapter, repo), as_version=4)
        _banner(nb, f"```{{warning}}\nThis chapter has not been executed for profile `{profile}`; run `fercore run {chapter} --profile {profile}`.\n```")
        staged = repo / "book" / "_generated" / f"{name}.unexecuted.ipynb"
        _write_notebook_atomic(nb, staged)
        _sync_file(staged, target)
    write_run_table(profile, repo)
    write_report(profile, repo)
    stage_student_labs(repo)


def write_run_table(profile: str, repo=".") -> None:
    """``book/_generated/runs.md``: each chapter's last run for the profile (included by a page)."""
    lines = [
        f"Profile `{profile}`:\n",
        "| chapter | status | started (UTC) | seconds | device |",
        "|---|---|---|---:|---|",
    ]
    for chapter in CHAPTERS:
        state = read_state(chapter, profile, repo) or {}
        result_file = profile_dir(profile, repo) / f"{chapter}.json"
        device = json.loads(result_file.read_text()).get("device", "") if result_file.is_file() else ""
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
