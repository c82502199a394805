"""Hygiene of the chapter sources: no outputs, one parameters cell, profiles that match it."""

import nbformat
import pytest

from fercore import parameters

REQUIRED = {"profile", "data_root", "seed", "device"}


@pytest.mark.parametrize("chapter", list(parameters.CHAPTERS))
def test_notebook_is_stored_clean_with_one_parameters_cell(chapter):
    path = parameters.notebook_path(chapter)
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path}: cell {i} has outputs"
            assert cell.execution_count is None, f"{path}: cell {i} has an execution count"
    parameters.parameters_cell(nb)  # raises unless exactly one
    assert nb.metadata.kernelspec.name == "python3", f"{path}: kernelspec is not python3"


@pytest.mark.parametrize("chapter", list(parameters.CHAPTERS))
def test_every_profile_parameter_exists_in_the_notebook(chapter):
    defaults = parameters.notebook_parameters(parameters.notebook_path(chapter))
    assert REQUIRED <= set(defaults), f"{chapter}: parameters cell lacks {REQUIRED - set(defaults)}"
    profiles = parameters.load_profiles()
    for name in profiles:
        params = parameters.chapter_parameters(chapter, name, device="cpu")
        assert set(params) <= set(defaults)


@pytest.mark.parametrize("chapter", list(parameters.CHAPTERS))
def test_profiles_set_the_same_keys_for_a_chapter(chapter):
    profiles = parameters.load_profiles()
    keys = {name: set((body["chapters"].get(chapter) or {})) for name, body in profiles.items()}
    assert len({frozenset(k) for k in keys.values()}) == 1, f"{chapter}: profiles disagree on keys {keys}"


def test_the_three_profiles_exist():
    assert {"smoke", "default", "full"} <= set(parameters.load_profiles())
