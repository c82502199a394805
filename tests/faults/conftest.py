"""Fault injection: a tiny synthetic world, generated once, copied for each test to be damaged."""

import shutil

import pytest
from faultkit import TINY

from fercore.synth import world


@pytest.fixture(scope="session")
def pristine_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine") / "world"
    world.materialize(root, "smoke", seed=3, sizes=TINY, workers=1)
    return root


@pytest.fixture
def world_copy(pristine_world, tmp_path):
    """A private copy of the tiny world to inject faults into."""
    root = tmp_path / "world"
    shutil.copytree(pristine_world, root)
    return root
