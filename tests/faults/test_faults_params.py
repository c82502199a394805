"""Parameter faults: `-p` values checked against each notebook default's type, with the parameter, the
expected type and the text given in the error; unknown profiles, chapters and devices exit non-zero."""

from pathlib import Path

import pytest
import torch

from fercore import cli, parameters

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def at_repo(monkeypatch):
    monkeypatch.chdir(REPO)


BAD_VALUES = [
    ("em", "n_images=abc", "'n_images' expects an integer", "-p n_images=abc"),
    ("em", "n_images=2.5", "'n_images' expects an integer", "-p n_images=2.5"),
    ("em", "spammer_fraction=1:30", "'spammer_fraction' expects a number", "-p spammer_fraction=1:30"),
    ("em", "spammer_fraction=nan", "'spammer_fraction' expects a number", "-p spammer_fraction=nan"),
    ("em", "run_crowdkit=maybe", "'run_crowdkit' expects a boolean", "-p run_crowdkit=maybe"),
    ("em", "sweep_votes_per_image=[5, x]", "'sweep_votes_per_image' expects a list like [1, 2] of an integer",
     "-p sweep_votes_per_image=[5, x]"),
    ("em", "sweep_spammer_fractions=[[0.1]]", "'sweep_spammer_fractions' expects a list", "[[0.1]]"),
    ("dlp_dbm", "sweep_lambdas=[a]", "'sweep_lambdas' expects a list like [1, 2] of a number values", "[a]"),
    ("stats", "datasets=rafdb,nosuch", None, None),
    ("em", "nosuch=1", "nosuch", None),
]


@pytest.mark.parametrize("chapter, pair, expected, given", BAD_VALUES, ids=[b[1] for b in BAD_VALUES])
def test_bad_values_exit_non_zero_naming_parameter_type_and_text(at_repo, capsys, chapter, pair, expected, given):
    if expected is None:  # a list of text: any names parse; the notebook names the unknown one
        params = parameters.chapter_parameters(chapter, "smoke", parameters.parse_overrides([pair]), "cpu")
        assert params["datasets"] == ["rafdb", "nosuch"]
        return
    rc = cli.main(["run", chapter, "--profile", "smoke", "--device", "cpu", "-p", pair])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err, err
    if given:
        assert given in err, err


GOOD_VALUES = [
    ("n_images=1e6", "n_images", 1_000_000),
    ("n_images=010", "n_images", 10),
    ("n_images=1_000", "n_images", 1000),
    ("spammer_fraction=1e-1", "spammer_fraction", 0.1),
    ("spammer_fraction=0", "spammer_fraction", 0.0),
    ("run_crowdkit=yes", "run_crowdkit", True),
    ("run_crowdkit=False", "run_crowdkit", False),
    ("votes_from=simulate", "votes_from", "simulate"),
    ("votes_from='010'", "votes_from", "010"),
    ("sweep_votes_per_image=[5, 010, 1e2]", "sweep_votes_per_image", [5, 10, 100]),
    ("sweep_spammer_fractions=0.1, 0.2", "sweep_spammer_fractions", [0.1, 0.2]),
    ("sweep_spammer_fractions=[]", "sweep_spammer_fractions", []),
]


@pytest.mark.parametrize("pair, name, value", GOOD_VALUES, ids=[g[0] for g in GOOD_VALUES])
def test_yaml_1_1_surprises_read_as_the_default_type(at_repo, pair, name, value):
    params = parameters.chapter_parameters("em", "smoke", parameters.parse_overrides([pair]), "cpu")
    assert params[name] == value and type(params[name]) is type(value)


def test_text_parameter_keeps_clock_like_text(at_repo):
    params = parameters.chapter_parameters("semantic_ae", "smoke", parameters.parse_overrides(["threshold=1:30"]), "cpu")
    assert params["threshold"] == "1:30"


def test_empty_list_defaults_take_their_schema_from_the_profiles(at_repo):
    params = parameters.chapter_parameters("dlp_dbm", "smoke", parameters.parse_overrides(["sweep_ks=[5, 10]"]), "cpu")
    assert params["sweep_ks"] == [5, 10]
    with pytest.raises(ValueError, match="'sweep_ks' expects a list like \\[1, 2\\] of an integer values"):
        parameters.chapter_parameters("dlp_dbm", "smoke", parameters.parse_overrides(["sweep_ks=[0.5]"]), "cpu")


def test_a_bad_profile_value_names_the_profiles_file(at_repo, monkeypatch):
    profiles = parameters.load_profiles()
    profiles["smoke"]["chapters"]["em"]["n_images"] = "lots"
    with pytest.raises(ValueError, match=r"profile 'smoke' in .*profiles.yaml.*'n_images' expects an integer"):
        parameters.chapter_parameters("em", "smoke", None, "cpu", profiles=profiles)


@pytest.mark.parametrize("argv", [
    ["status", "--profile", "nosuch", "--device", "cpu"],
    ["run", "em", "--profile", "nosuch", "--device", "cpu"],
    ["book", "--profile", "nosuch", "--device", "cpu"],
    ["data", "--profile", "nosuch"],
    ["predict", "--profile", "nosuch", "--device", "cpu", "README.md"],
], ids=["status", "run", "book", "data", "predict"])
def test_unknown_profile_exits_non_zero_everywhere(at_repo, capsys, argv):
    assert cli.main(argv) == 2
    assert "unknown profile 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["run", "nosuch", "--profile", "smoke"], ["run", "--profile", "smoke"]])
def test_unknown_or_missing_chapter_exits_non_zero(at_repo, capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("command", ["run", "status"])
def test_cuda_without_a_gpu_is_an_error(at_repo, capsys, command):
    argv = [command, "em", "--profile", "smoke", "--device", "cuda"] if command == "run" else \
        [command, "--profile", "smoke", "--device", "cuda"]
    assert cli.main(argv) == 2
    assert "no CUDA GPU is visible" in capsys.readouterr().err


def test_data_root_outside_data_is_refused_by_fercore_data(at_repo, capsys, monkeypatch):
    profiles = parameters.load_profiles()
    profiles["smoke"]["common"]["data_root"] = "data/../.."
    monkeypatch.setattr(parameters, "load_profiles", lambda path=None: profiles)
    assert cli.main(["data", "--profile", "smoke"]) == 2
    assert "is not under data/" in capsys.readouterr().err


@pytest.mark.parametrize("pair", ["device=cuda", "profile=full"])
def test_runner_set_parameters_cannot_be_overridden_silently(at_repo, pair):
    with pytest.raises(ValueError, match=f"-p {pair.split('=')[0]}: set by the runner"):
        parameters.chapter_parameters("em", "smoke", parameters.parse_overrides([pair]), "cpu")


def test_unreadable_notebook_is_named(tmp_path):
    path = tmp_path / "notebooks" / "x.ipynb"
    path.parent.mkdir()
    path.write_text('{"cells": [')
    with pytest.raises(ValueError, match=rf"{path}: not a readable notebook"):
        parameters.notebook_parameters(path)
