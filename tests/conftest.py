"""Shared test settings: quiet progress bars and a small thread count on the 2-core machine."""

import os

os.environ.setdefault("FERCORE_QUIET", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
