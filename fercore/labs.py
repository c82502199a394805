"""Course labs: student notebooks generated from solution notebooks, and check cells.

A lab's single source is its solution notebook in ``notebooks/labs/``. Code between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` is the students' to write: in the student version the
block becomes a ``# TODO`` comment followed by its ``# STUB:`` lines (code that runs but computes
nothing useful, e.g. ``# STUB: return np.zeros(3)``), so a student notebook runs end to end and its
checks fail with a message rather than a traceback. Cells tagged ``solution-only`` are dropped.

Check cells call :func:`check_close` / :func:`check_true`, which print one line per check:
``✓ PASS name`` or ``✗ FAIL name: what is off, by how much. Hint: …``.
"""

import re
from pathlib import Path

import nbformat
import numpy as np

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
STUB = "# STUB:"
PASS_MARK = "✓ PASS"
FAIL_MARK = "✗ FAIL"
LABS_DIR = Path("notebooks") / "labs"


def student_source(source: str, where: str = "cell") -> str:
    """The student version of one cell's code: solution blocks replaced by their stubs."""
    out, in_block, stub, indent = [], False, [], ""
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if in_block:
                raise ValueError(f"{where}, line {number}: '{BEGIN}' inside another solution block")
            in_block, stub, indent = True, [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if not in_block:
                raise ValueError(f"{where}, line {number}: '{END}' without '{BEGIN}'")
            out.append(f"{indent}# TODO: your code here (replace the stub below).")
            out += stub or [f"{indent}pass"]
            in_block = False
        elif in_block:
            if stripped.startswith(STUB):
                stub.append(indent + stripped[len(STUB):].strip())
        else:
            out.append(line)
    if in_block:
        raise ValueError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out)


def student_notebook(nb) -> nbformat.NotebookNode:
    """A copy of a solution notebook as students get it: stubs, no outputs, no solution-only cells."""
    student = nbformat.from_dict(nb)
    cells = []
    for i, cell in enumerate(student.cells):
        if "solution-only" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.source = student_source(cell.source, where=f"cell {i}")
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    student.cells = cells
    return student


def lab_sources(repo=".") -> list[Path]:
    """The solution notebooks, in lab order."""
    return sorted((Path(repo) / LABS_DIR).glob("lab*.ipynb"))


def export_labs(out_dir, repo=".") -> dict[str, list[Path]]:
    """Write the hand-out: ``out_dir/student/`` and ``out_dir/instructor/`` (solutions)."""
    out_dir = Path(out_dir)
    written = {"student": [], "instructor": []}
    for source in lab_sources(repo):
        nb = nbformat.read(source, as_version=4)
        for kind, version in (("student", student_notebook(nb)), ("instructor", nb)):
            target = out_dir / kind / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(version, target)
            written[kind].append(target)
    readme = out_dir / "README.md"
    readme.write_text(
        "# FER labs\n\n`student/` is for students, `instructor/` holds the solutions.\n"
        "Each lab runs in under five minutes on a laptop CPU with the `fercore` library installed\n"
        "(`pip install -e .` in the book's repository). Check cells print PASS or FAIL with a hint.\n"
    )
    return written


def stage_student_labs(repo=".") -> list[Path]:
    """Put the student versions where the book shows them (``book/labs/``)."""
    target_dir = Path(repo) / "book" / "labs"
    written = []
    for source in lab_sources(repo):
        target = target_dir / source.name
        text = nbformat.writes(student_notebook(nbformat.read(source, as_version=4)))
        if not target.is_file() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        written.append(target)
    return written


# ---------------------------------------------------------------- checks


def _fail(name: str, message: str, hint: str = "") -> bool:
    print(f"{FAIL_MARK} {name}: {message}" + (f" Hint: {hint}" if hint else ""))
    return False


def check_close(name: str, got, expected, rtol=1e-4, atol=1e-6, hint: str = "") -> bool:
    """Print whether ``got`` matches ``expected`` (shape and values); return True when it does."""
    if got is None:
        return _fail(name, "got None — the stub has not been replaced yet.", hint)
    try:
        got_a = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=float)
    except (TypeError, ValueError):
        return _fail(name, f"got a {type(got).__name__}, expected numbers.", hint)
    expected_a = np.asarray(expected, dtype=float)
    if got_a.shape != expected_a.shape:
        return _fail(name, f"shape {got_a.shape}, expected {expected_a.shape}.", hint)
    if not np.all(np.isfinite(got_a)):
        return _fail(name, "contains NaN or infinity.", hint)
    error = np.abs(got_a - expected_a)
    if np.all(error <= atol + rtol * np.abs(expected_a)):
        print(f"{PASS_MARK} {name}")
        return True
    worst = np.unravel_index(np.argmax(error), error.shape) if error.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if worst else ""
    return _fail(
        name,
        f"off by up to {error.max():.3g}{where} (got {got_a[worst]:.4g}, expected {expected_a[worst]:.4g}).",
        hint,
    )


def check_true(name: str, condition: bool, message: str, hint: str = "") -> bool:
    """Print PASS when ``condition`` holds, else FAIL with ``message``."""
    if condition:
        print(f"{PASS_MARK} {name}")
        return True
    return _fail(name, message, hint)


def check_marks(text: str) -> tuple[int, int]:
    """Count PASS and FAIL lines in a notebook's printed output."""
    return len(re.findall(re.escape(PASS_MARK), text)), len(re.findall(re.escape(FAIL_MARK), text))
