"""Labs: student versions generated from solutions; both run; checks pass or fail helpfully."""

import nbformat
import pytest

from fercore import labs


SOLUTION = """def double(x):
    # BEGIN SOLUTION
    # STUB: return None
    return 2 * x
    # END SOLUTION

y = double(3)"""


def test_student_source_replaces_solution_blocks_by_stubs():
    student = labs.student_source(SOLUTION)
    assert "return 2 * x" not in student
    assert "    # TODO: your code here" in student
    assert "    return None" in student
    assert student.endswith("y = double(3)")
    namespace = {}
    exec(student, namespace)
    assert namespace["y"] is None


def test_a_block_without_stub_becomes_pass():
    assert labs.student_source("# BEGIN SOLUTION\nx = 1\n# END SOLUTION").splitlines()[-1] == "pass"


@pytest.mark.parametrize(
    "source, message",
    [("# BEGIN SOLUTION\nx = 1", "never closed"), ("x = 1\n# END SOLUTION", "line 2"),
     ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another")],
)
def test_malformed_markers_are_reported_with_the_line(source, message):
    with pytest.raises(ValueError, match=message):
        labs.student_source(source)


def test_student_notebook_drops_outputs_and_solution_only_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SOLUTION, outputs=[nbformat.v4.new_output("stream", text="6")], execution_count=1),
        nbformat.v4.new_markdown_cell("Instructor note", metadata={"tags": ["solution-only"]}),
    ]
    student = labs.student_notebook(nb)
    assert len(student.cells) == 1 and student.cells[0].outputs == [] and student.cells[0].execution_count is None
    assert "return 2 * x" in nb.cells[0].source, "the solution notebook itself was modified"


def test_check_messages(capsys):
    assert labs.check_close("sum", [1.0, 2.0], [1.0, 2.0])
    assert not labs.check_close("stub", None, [1.0], hint="write it")
    assert not labs.check_close("shape", [1.0], [1.0, 2.0])
    assert not labs.check_close("value", [1.0, 2.5], [1.0, 2.0])
    out = capsys.readouterr().out
    assert "✓ PASS sum" in out
    assert "✗ FAIL stub: got None — the stub has not been replaced yet. Hint: write it" in out
    assert "shape (1,), expected (2,)" in out
    assert "off by up to 0.5 at index (1,) (got 2.5, expected 2)" in out
    assert labs.check_marks(out) == (1, 3)
