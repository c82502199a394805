"""Run the book's chapters with papermill: profiles, parameters, cache, results, book build.

A chapter is re-executed only when its cache key changes: the key hashes the notebook's code and
markdown, the resolved parameters, the source of every ``fercore`` module the notebook imports
(transitively) and the manifest of the synthetic data it reads. Executed notebooks and results
live under ``results/<profile>/``; ``fercore book`` copies them into ``book/chapters/`` and builds.
"""

import ast
import hashlib
import json
import math
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
from fercore.models import PROFILE_DIR_ENV
from fercore.results import METRICS_ENV, NOTES_ENV, write_atomic, write_json_atomic

CHAPTERS = {
    "data": "01_data",
    "em": "02_em",
    "stats": "03_stats",
    "handcrafted": "04_handcrafted",
    "dlp_dbm": "05_dlp_dbm",
    "domain_adaptation": "06_domain_adaptation",
    "sjmt": "07_sjmt",
    "semantic_ae": "08_semantic_ae",
    "real_photos": "09_real_photos",
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


def read_notebook(path) -> nbformat.NotebookNode:
    """A source notebook; an unreadable one (truncated, not JSON) raises an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: notebook not found")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as e:  # nbformat raises several kinds: NotJSONError, ValidationError, ...
        raise ValueError(f"{path}: not a readable notebook ({type(e).__name__}: {str(e)[:200]})") from None


def parameters_cell(nb) -> nbformat.NotebookNode:
    """The single code cell tagged ``parameters``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def notebook_parameters(path) -> dict:
    """Default values of a notebook's parameters cell (simple ``name = literal`` lines)."""
    path = Path(path)
    nb = read_notebook(path)
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


class RawValue(str):
    """A ``-p`` value as typed; :func:`chapter_parameters` converts it to the type of the
    notebook's default."""


def parse_overrides(pairs) -> dict:
    """``["key=value", ...]`` from the command line as ``{key: RawValue(text)}``; the text is
    converted (and checked) against each notebook default's type by :func:`chapter_parameters`."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"-p {pair!r}: expected key=value")
        out[key.strip()] = RawValue(value.strip())
    return out


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _type_name(kind) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "text",
            list: "a list like [1, 2]"}.get(kind, kind.__name__)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _scalar(text: str, kind):
    """``text`` as ``kind`` (bool, int, float or str), or ValueError. ``010`` is ten, ``1e6`` a
    number (an integer where one is expected and it is whole), ``1:30`` text, never 90."""
    text = _unquote(text)
    if kind is str:
        return text
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError
    number = float(text.replace("_", ""))  # ValueError for "1:30", "abc"
    if not math.isfinite(number):
        raise ValueError
    if kind is int:
        if not number.is_integer():
            raise ValueError
        return int(number)
    return number


def _check_scalar(value, kind):
    """A Python value given for a parameter of type ``kind`` (an int is a valid float)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ValueError


def _element_kind(name: str, default: list, profiles: dict):
    """The element type of a list parameter: from the notebook default, else from the values the
    profiles give it, else any scalar."""
    examples = list(default)
    for body in profiles.values():
        for block in [body.get("common") or {}, *(body.get("chapters") or {}).values()]:
            if isinstance(block, dict) and isinstance(block.get(name), list):
                examples += block[name]
    kinds = {type(v) for v in examples}
    if kinds == {int, float}:
        return float
    return kinds.pop() if len(kinds) == 1 and kinds <= {bool, int, float, str} else None


def convert_parameter(name: str, value, default, where: str, profiles=None):
    """``value`` (a :class:`RawValue` typed with ``-p`` or a Python value) checked against the
    type of the notebook's ``default``; the error names the parameter, the expected type and the
    value given."""
    profiles = profiles or {}
    kind = type(default)
    shown = f"-p {name}={value}" if isinstance(value, RawValue) else f"{name}={value!r}"
    if default is None:
        return yaml.safe_load(value) if isinstance(value, RawValue) else value
    try:
        if kind is list:
            element = _element_kind(name, default, profiles)
            if isinstance(value, RawValue):
                text = value.strip()
                if text.startswith("[") and text.endswith("]"):
                    text = text[1:-1]
                if "[" in text or "]" in text:
                    raise ValueError
                items = [t for t in (part.strip() for part in text.split(",")) if t]
                if element is None:
                    return [yaml.safe_load(_unquote(t)) if _unquote(t) == t else _unquote(t) for t in items]
                return [_scalar(t, element) for t in items]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return [v if element is None else _check_scalar(v, element) for v in value]
        if isinstance(value, RawValue):
            return _scalar(value, kind)
        return _check_scalar(value, kind)
    except ValueError:
        expected = _type_name(kind)
        if kind is list:
            element = _element_kind(name, default, profiles)
            expected += f" of {_type_name(element)} values" if element else ""
        raise ValueError(f"{where}: parameter {name!r} expects {expected} (notebook default {default!r}); "
                         f"got {shown}") from None


def device_name(device: str) -> str:
    """The ``--device`` option as the name of the device the chapters run on
    (:func:`fercore.devices.resolve_device`): ``auto`` becomes ``cuda`` when a GPU is visible, else
    ``cpu``; ``cuda`` without a GPU is an error."""
    from fercore.devices import resolve_device

    return str(resolve_device(device, setting="--device"))


def chapter_parameters(chapter: str, profile: str, overrides=None, device="cpu", repo=".", profiles=None) -> dict:
    """The parameters a chapter runs with: profile common + chapter block + overrides + injected."""
    profiles = load_profiles() if profiles is None else profiles
    body = get_profile(profile, profiles)
    path = notebook_path(chapter, repo)
    defaults = notebook_parameters(path)
    injected = sorted(set(overrides or {}) & set(INJECTED))
    if injected:
        raise ValueError(f"-p {injected[0]}: set by the runner; use --{injected[0]} instead")
    from_profile = {**(body.get("common") or {}), **(body["chapters"].get(chapter) or {})}
    params = {**from_profile, **(overrides or {})}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"chapter {chapter!r}: parameter(s) {', '.join(unknown)} are not in the parameters cell of "
            f"{path}"
        )
    for name in list(params):
        where = f"chapter {chapter!r}" + ("" if name in (overrides or {}) else f" (profile {profile!r} in {PROFILES_FILE})")
        params[name] = convert_parameter(name, params[name], defaults[name], where, profiles)
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
    nb = read_notebook(notebook_path(chapter, repo))
    digest = hashlib.sha256()
    for cell in nb.cells:
        digest.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for path in fercore_dependencies(_notebook_code(nb)):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes())
    data_root = params.get("data_root")
    if data_root:
        digest.update(data_fingerprint(Path(repo) / data_root).encode())
    return digest.hexdigest()


def data_files(root) -> list[Path]:
    """Every file under a data root, sorted, but the generator's own lock and staging files."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(folder) / f for f in files if not f.startswith(".")]
    return sorted(out)


def data_fingerprint(root, verify: bool = False) -> str:
    """Hash of every file under ``root``: its path, size and modification time (fast), or, with
    ``verify``, its path and content. Any file added, removed or changed changes it."""
    root = Path(root)
    digest = hashlib.sha256(b"absent" if not root.is_dir() else b"")
    for path in data_files(root):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0".encode())
        if verify:
            with open(path, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- running chapters


def profile_dir(profile: str, repo=".") -> Path:
    return Path(repo) / "results" / profile


def _state_path(chapter: str, profile: str, repo=".") -> Path:
    return profile_dir(profile, repo) / "runs" / f"{chapter}.json"


def executed_path(chapter: str, profile: str, repo=".") -> Path:
    """Where the executed copy of a chapter is kept for a profile."""
    return profile_dir(profile, repo) / "chapters" / f"{CHAPTERS[chapter]}.ipynb"


def failed_path(chapter: str, profile: str, repo=".") -> Path:
    """Where the notebook of a failed run is put, beside the last good executed one."""
    return profile_dir(profile, repo) / "chapters" / f"{CHAPTERS[chapter]}.failed.ipynb"


def read_state(chapter: str, profile: str, repo=".") -> dict | None:
    """A chapter's run state, None if never run; an unreadable state file reads as a failed run
    whose error names the file (the next run replaces it)."""
    path = _state_path(chapter, profile, repo)
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or "status" not in state:
            raise ValueError("no 'status' entry")
    except (ValueError, UnicodeDecodeError) as e:
        return {"chapter": chapter, "status": "failed", "key": None,
                "error": f"{path}: unreadable run state ({type(e).__name__}: {e}); the next run replaces it"}
    return state


def read_results(chapter: str, profile: str, repo=".") -> dict | None:
    """The results file of a chapter's last successful run, None if absent or unreadable."""
    path = profile_dir(profile, repo) / f"{chapter}.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (ValueError, UnicodeDecodeError):
        return None


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
    write_atomic(path, lambda tmp: nbformat.write(nb, tmp))


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


def _describe_notes(notes) -> str:
    return "; ".join(f"{n['what']} {'simulated' if n['kind'] == 'simulated' else 'not read'}: {n['reason']}"
                     for n in notes)


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
            tempfile.tempdir = system_tmp
            for k, v in env_backup.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        seconds = time.perf_counter() - t0
        notes = json.loads(notes_file.read_text()) if notes_file.is_file() else []
        if notes and not error and not allow_missing:
            error = f"ran without the data it was asked for — {_describe_notes(notes)} (to accept this, run with --allow-missing)"
        state = {"chapter": chapter, "profile": profile, "started": started.isoformat(timespec="seconds"),
                 "seconds": round(seconds, 2), "notes": notes}
        executed = staging / "out.ipynb"
        if error:
            kept = ""
            if executed.is_file():
                nb = nbformat.read(executed, as_version=4)
                _banner(nb, f"```{{error}}\nThis run failed (profile `{profile}`): {error}\n```")
                _write_notebook_atomic(nb, failed_path(chapter, profile, repo))
                kept = f"failed notebook at {failed_path(chapter, profile, repo)}"
            previous = read_state(chapter, profile, repo) or {}
            write_json_atomic(_state_path(chapter, profile, repo),
                              {**state, "status": "failed", "error": error, "key": None,
                               "last_ok": previous.get("last_ok") or (previous if previous.get("status") == "ok" else None)})
            good = "; the last good run's notebook and results are kept" if out_path.is_file() else ""
            raise ChapterError(f"{chapter}: {error} ({kept or 'no notebook was written'}{good})")
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        key = cache_key(chapter, params, repo)
        nb = nbformat.read(executed, as_version=4)
        if notes:
            _banner(nb, f"```{{warning}}\nThis run was allowed to go without data: {_describe_notes(notes)}\n```")
        _write_notebook_atomic(nb, out_path)
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
        write_json_atomic(_state_path(chapter, profile, repo), ok)
        failed_path(chapter, profile, repo).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return seconds


def is_fresh(state, chapter: str, params: dict, repo=".", verify=False, allow_missing=False) -> bool:
    """A successful run whose key matches ``params`` and the data now (by content with
    ``verify``), and that skipped nothing unless ``allow_missing``."""
    if not state or state.get("status") != "ok" or state.get("key") != cache_key(chapter, params, repo):
        return False
    if state.get("notes") and not allow_missing:
        return False
    if verify and params.get("data_root"):
        return state.get("data_content") == data_fingerprint(Path(repo) / params["data_root"], verify=True)
    return True


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
    chapters = list(CHAPTERS) if not chapters else list(chapters)
    for chapter in chapters:
        notebook_path(chapter, repo)  # unknown ids fail before anything runs
    get_profile(profile)
    device = device_name(device)
    clean_stale_staging()
    order = [c for c in CHAPTERS if c in chapters]
    params_by_chapter = {c: chapter_parameters(c, profile, overrides, device, repo) for c in order}
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


def chapter_status(profile: str, repo=".", device="auto", verify=False) -> list[dict]:
    """Each chapter's state for a profile: fresh, stale, failed or never run (``verify``: the
    data's content is hashed, else its file sizes and times are compared)."""
    get_profile(profile)
    device = device_name(device)
    rows = []
    for chapter in CHAPTERS:
        state = read_state(chapter, profile, repo)
        if state is None:
            label = "never run"
        elif state["status"] == "failed":
            label = "failed"
        else:
            params = chapter_parameters(chapter, profile, None, state.get("device") or device, repo)
            label = "fresh" if is_fresh(state, chapter, params, repo, verify, allow_missing=True) else "stale"
            if label == "fresh" and state.get("notes"):
                label = "partial"
        rows.append(
            {
                "chapter": chapter,
                "status": label,
                "when": (state or {}).get("started", ""),
                "seconds": (state or {}).get("seconds"),
                "error": (state or {}).get("error", "") or _describe_notes((state or {}).get("notes") or []),
            }
        )
    return rows


def results_freshness(profile: str, repo=".") -> dict[str, str]:
    """For each chapter with a results file: ``fresh`` when it is the last successful run of the
    profile's current parameters, code and data, else ``stale`` (used by the report)."""
    out = {}
    for chapter in CHAPTERS:
        body = read_results(chapter, profile, repo)
        if body is None:
            continue
        try:
            params = chapter_parameters(chapter, profile, None, body.get("device") or "cpu", repo)
            current = cache_key(chapter, params, repo)
        except (ValueError, FileNotFoundError):
            current = None
        out[chapter] = "fresh" if current is not None and body.get("key") == current else "stale"
    return out


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
        failed = failed_path(chapter, profile, repo)
        target = repo / "book" / "chapters" / f"{name}.ipynb"
        state = read_state(chapter, profile, repo) or {}
        if executed.is_file() and state.get("status") == "failed":
            nb = nbformat.read(executed, as_version=4)
            _banner(nb, f"```{{warning}}\nThe latest run of this chapter failed ({state.get('error', '')}); "
                        f"this is the last good run, kept as it was.\n```")
            staged = repo / "book" / "_generated" / f"{name}.last-good.ipynb"
            _write_notebook_atomic(nb, staged)
            _sync_file(staged, target)
            continue
        if executed.is_file() or failed.is_file():
            _sync_file(executed if executed.is_file() else failed, target)
            continue
        nb = nbformat.read(notebook_path(chapter, repo), as_version=4)
        _banner(nb, f"```{{warning}}\nThis chapter has not been executed for profile `{profile}`; run `fercore run {chapter} --profile {profile}`.\n```")
        staged = repo / "book" / "_generated" / f"{name}.unexecuted.ipynb"
        _write_notebook_atomic(nb, staged)
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
    for chapter in CHAPTERS:
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
