"""Shared test settings: quiet progress bars and a small thread count on the 2-core machine."""

import os

import pytest
import torch

os.environ.setdefault("FERCORE_QUIET", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny networks run fastest on one thread, and are not slowed by other processes on the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
