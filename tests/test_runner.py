"""The runner: parameters, cache hits and misses, failure reporting, atomic results."""

import json
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from fercore import parameters, results, run_state, runner


def _notebook(path: Path, body: str, params: str = 'profile = "x"\ndata_root = ""\nseed = 0\ndevice = "cpu"\nn = 1'):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(textwrap.dedent(body)),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A throw-away book with two chapters (one good, one broken) and its own library module."""
    package = tmp_path / "pkg" / "fercore"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("VALUE = 1\n")
    (package / "unrelated.py").write_text("OTHER = 1\n")
    profiles = {"p": {"common": {"data_root": "", "seed": 0}, "chapters": {"good": {"n": 3}, "broken": {}, "uses_lib": {}}}}
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    _notebook(
        tmp_path / "notebooks" / "01_good.ipynb",
        """
        from fercore import results
        results.record("good.n_squared", n * n)
        """,
    )
    _notebook(tmp_path / "notebooks" / "02_broken.ipynb", "x = 1\nraise ValueError('boom')")
    _notebook(tmp_path / "notebooks" / "03_uses_lib.ipynb", "import fercore.helper")
    monkeypatch.setattr(parameters, "CHAPTERS", {"good": "01_good", "broken": "02_broken", "uses_lib": "03_uses_lib"})
    monkeypatch.setattr(parameters, "PROFILES_FILE", tmp_path / "profiles.yaml")
    monkeypatch.setattr(run_state, "PACKAGE_DIR", package)
    return tmp_path


def test_parameters_merge_profile_overrides_and_injected(repo):
    params = parameters.chapter_parameters("good", "p", {"seed": 5}, "cpu", repo)
    assert params == {"data_root": "", "seed": 5, "n": 3, "profile": "p", "device": "cpu"}


def test_unknown_parameter_profile_and_chapter_are_named(repo):
    with pytest.raises(ValueError, match="nope"):
        parameters.chapter_parameters("good", "p", {"nope": 1}, "cpu", repo)
    with pytest.raises(ValueError, match="unknown profile 'q'"):
        parameters.chapter_parameters("good", "q", None, "cpu", repo)
    with pytest.raises(ValueError, match="unknown chapter 'zzz'"):
        parameters.notebook_path("zzz", repo)


def test_overrides_take_the_type_of_the_notebook_default():
    raw = parameters.parse_overrides(["a=3", "b=1e6", "c=010", "d=true", "e=[0.5, 1]", "f=1:30"])
    defaults = {"a": 1.0, "b": 10, "c": "x", "d": False, "e": [1.0], "f": "00:00"}
    got = {k: parameters.convert_parameter(k, v, defaults[k], "chapter 'x'") for k, v in raw.items()}
    assert got == {"a": 3.0, "b": 1_000_000, "c": "010", "d": True, "e": [0.5, 1.0], "f": "1:30"}
    assert parameters.convert_parameter("n", parameters.RawValue("010"), 1, "x") == 10, "YAML 1.1 reads 010 as octal 8"
    with pytest.raises(ValueError, match=r"parameter 'n' expects an integer .*got -p n=2.5"):
        parameters.convert_parameter("n", parameters.RawValue("2.5"), 1, "chapter 'x'")
    with pytest.raises(ValueError, match=r"'lr' expects a number .*got -p lr=1:30"):
        parameters.convert_parameter("lr", parameters.RawValue("1:30"), 0.1, "chapter 'x'")
    with pytest.raises(ValueError, match=r"'grid' expects a list like \[1, 2\] of a number values"):
        parameters.convert_parameter("grid", parameters.RawValue("[1, x]"), [1.0], "chapter 'x'")
    with pytest.raises(ValueError, match="'flag' expects a boolean"):
        parameters.convert_parameter("flag", parameters.RawValue("maybe"), False, "chapter 'x'")
    with pytest.raises(ValueError, match="key=value"):
        parameters.parse_overrides(["novalue"])


def test_cache_key_follows_notebook_parameters_and_imported_library_code(repo):
    params = parameters.chapter_parameters("uses_lib", "p", None, "cpu", repo)
    key = run_state.cache_key("uses_lib", params, repo)
    assert run_state.cache_key("uses_lib", params, repo) == key
    assert run_state.cache_key("uses_lib", {**params, "n": 4}, repo) != key
    package = run_state.PACKAGE_DIR
    (package / "unrelated.py").write_text("OTHER = 2\n")
    assert run_state.cache_key("uses_lib", params, repo) == key, "a module the notebook does not import changed the key"
    (package / "helper.py").write_text("VALUE = 2\n")
    key2 = run_state.cache_key("uses_lib", params, repo)
    assert key2 != key
    nb_path = parameters.notebook_path("uses_lib", repo)
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[2].source += "\n# edited"
    nbformat.write(nb, nb_path)
    assert run_state.cache_key("uses_lib", params, repo) != key2


def test_transitive_library_imports_are_followed(repo):
    package = run_state.PACKAGE_DIR
    (package / "helper.py").write_text("from .deep import X\n")
    (package / "deep.py").write_text("X = 1\n")
    files = {p.name for p in run_state.fercore_dependencies("import fercore.helper")}
    assert {"helper.py", "deep.py", "__init__.py"} <= files
    assert "unrelated.py" not in files


def test_run_caches_reports_failure_and_keeps_results(repo, capsys):
    outcomes = {o.chapter: o for o in runner.run_chapters(["good", "broken"], "p", device="cpu", repo=repo)}
    assert outcomes["good"].status == "ran"
    assert outcomes["broken"].status == "failed"
    assert "cell 3 raised ValueError: boom" in outcomes["broken"].message
    saved = json.loads((repo / "results" / "p" / "good.json").read_text())
    assert saved["metrics"] == {"good.n_squared": 9.0}
    assert saved["parameters"]["n"] == 3 and saved["profile"] == "p" and saved["seconds"] > 0
    failed_nb = nbformat.read(run_state.failed_path("broken", "p", repo), as_version=4)
    assert any("This run failed" in c.source for c in failed_nb.cells)
    assert not run_state.executed_path("broken", "p", repo).exists()

    status = {r["chapter"]: r["status"] for r in run_state.chapter_status("p", repo, device="cpu")}
    assert status == {"good": "fresh", "broken": "failed", "uses_lib": "never run"}

    again = {o.chapter: o.status for o in runner.run_chapters(["good"], "p", device="cpu", repo=repo)}
    assert again == {"good": "cached"}
    changed = runner.run_chapters(["good"], "p", {"n": 4}, device="cpu", repo=repo)
    assert changed[0].status == "ran"
    assert json.loads((repo / "results" / "p" / "good.json").read_text())["metrics"]["good.n_squared"] == 16.0


def test_atomic_write_leaves_previous_file_on_crash(tmp_path):
    target = tmp_path / "r.json"
    results.write_json_atomic(target, {"a": 1})

    class Unserializable:
        pass

    with pytest.raises(TypeError):
        results.write_json_atomic(target, {"a": Unserializable()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert list(tmp_path.iterdir()) == [target], "a temporary file was left behind"


def test_record_validates_keys_and_values():
    assert results.record("test.value", 2) == 2.0
    with pytest.raises(ValueError, match="dotted name"):
        results.record("bad key", 1)
    with pytest.raises(ValueError, match="not finite"):
        results.record("test.nan", float("nan"))
    with pytest.raises(TypeError, match="not a number"):
        results.record("test.text", "abc")
