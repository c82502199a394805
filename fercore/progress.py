"""Progress bars that show on a terminal and stay silent inside notebooks and CI logs."""

import os
import sys

from tqdm import tqdm


def progress_enabled() -> bool:
    """True on an interactive terminal unless ``TQDM_DISABLE`` or ``FERCORE_QUIET`` is set."""
    if os.environ.get("TQDM_DISABLE") or os.environ.get("FERCORE_QUIET"):
        return False
    return sys.stderr.isatty()


def progress(iterable=None, **kwargs):
    """``tqdm`` over ``iterable`` that is disabled where it would only add noise."""
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
