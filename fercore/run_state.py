"""Where a profile's runs are kept, and whether each is current.

A chapter's run is current while its cache key is unchanged: the key hashes the notebook's code
and markdown, the resolved parameters, the source of every ``fercore`` module the notebook imports
(transitively) and the manifest of the synthetic data it reads. Executed notebooks, results and
run states live under ``results/<profile>/``.
"""

import ast
import hashlib
import json
import os
from pathlib import Path

import nbformat

import fercore
from fercore import parameters
from fercore.results import write_atomic

PACKAGE_DIR = Path(fercore.__file__).parent


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


def notebook_code(nb) -> str:
    """The notebook's code, with IPython magics and shell lines blanked so ``ast`` can parse it."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines += ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.source.splitlines()]
    return "\n".join(lines)


def cache_key(chapter: str, params: dict, repo=".") -> str:
    """Hash of what decides a chapter's output: notebook, parameters, imported library code, data."""
    nb = parameters.read_notebook(parameters.notebook_path(chapter, repo))
    digest = hashlib.sha256()
    for cell in nb.cells:
        digest.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for path in fercore_dependencies(notebook_code(nb)):
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


def profile_dir(profile: str, repo=".") -> Path:
    return Path(repo) / "results" / profile


def state_path(chapter: str, profile: str, repo=".") -> Path:
    return profile_dir(profile, repo) / "runs" / f"{chapter}.json"


def executed_path(chapter: str, profile: str, repo=".") -> Path:
    """Where the executed copy of a chapter is kept for a profile."""
    return profile_dir(profile, repo) / "chapters" / f"{parameters.CHAPTERS[chapter]}.ipynb"


def failed_path(chapter: str, profile: str, repo=".") -> Path:
    """Where the notebook of a failed run is put, beside the last good executed one."""
    return profile_dir(profile, repo) / "chapters" / f"{parameters.CHAPTERS[chapter]}.failed.ipynb"


def read_state(chapter: str, profile: str, repo=".") -> dict | None:
    """A chapter's run state, None if never run; an unreadable state file reads as a failed run
    whose error names the file (the next run replaces it)."""
    path = state_path(chapter, profile, repo)
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


def banner(nb, text: str) -> None:
    """Put an admonition at the top of an executed notebook (after its title cell)."""
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["fercore-banner"]
    index = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(index, cell)


def write_notebook_atomic(nb, path: Path) -> None:
    write_atomic(path, lambda tmp: nbformat.write(nb, tmp))


def describe_notes(notes) -> str:
    return "; ".join(f"{n['what']} {'simulated' if n['kind'] == 'simulated' else 'not read'}: {n['reason']}"
                     for n in notes)


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


def chapter_status(profile: str, repo=".", device="auto", verify=False) -> list[dict]:
    """Each chapter's state for a profile: fresh, stale, failed or never run (``verify``: the
    data's content is hashed, else its file sizes and times are compared)."""
    parameters.get_profile(profile)
    device = parameters.device_name(device)
    rows = []
    for chapter in parameters.CHAPTERS:
        state = read_state(chapter, profile, repo)
        if state is None:
            label = "never run"
        elif state["status"] == "failed":
            label = "failed"
        else:
            params = parameters.chapter_parameters(chapter, profile, None, state.get("device") or device, repo)
            label = "fresh" if is_fresh(state, chapter, params, repo, verify, allow_missing=True) else "stale"
            if label == "fresh" and state.get("notes"):
                label = "partial"
        rows.append(
            {
                "chapter": chapter,
                "status": label,
                "when": (state or {}).get("started", ""),
                "seconds": (state or {}).get("seconds"),
                "error": (state or {}).get("error", "") or describe_notes((state or {}).get("notes") or []),
            }
        )
    return rows


def results_freshness(profile: str, repo=".") -> dict[str, str]:
    """For each chapter with a results file: ``fresh`` when it is the last successful run of the
    profile's current parameters, code and data, else ``stale`` (used by the report)."""
    out = {}
    for chapter in parameters.CHAPTERS:
        body = read_results(chapter, profile, repo)
        if body is None:
            continue
        try:
            params = parameters.chapter_parameters(chapter, profile, None, body.get("device") or "cpu", repo)
            current = cache_key(chapter, params, repo)
        except (ValueError, FileNotFoundError):
            current = None
        out[chapter] = "fresh" if current is not None and body.get("key") == current else "stale"
    return out
