"""How many cores the face generator uses, and an ordered parallel map over work chunks.

The number of workers is, in order of precedence: the ``workers`` argument of the call, the
value set with :func:`using` (the world generator sets it per dataset), the ``FERCORE_WORKERS``
environment variable, and finally every core this process may run on. Generated files never
depend on it: every image draws its randomness from its own seed, so chunks may be rendered in
any order, by any number of threads.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

from fercore.progress import progress

ENV_WORKERS = "FERCORE_WORKERS"
_override: int | None = None


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def n_workers(workers: int | None = None) -> int:
    """Workers to use: ``workers`` if given, else :func:`using`'s value, else ``$FERCORE_WORKERS``,
    else :func:`available_cores`."""
    if workers is None:
        workers = _override
    if workers is None:
        value = os.environ.get(ENV_WORKERS, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"{ENV_WORKERS} must be a positive integer, got {value!r}")
            workers = int(value)
    if workers is None:
        return available_cores()
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return int(workers)


@contextlib.contextmanager
def using(workers: int | None):
    """Within the block, :func:`n_workers` defaults to ``workers`` (``None``: no override)."""
    global _override
    previous, _override = _override, None if workers is None else n_workers(workers)
    try:
        yield
    finally:
        _override = previous


def ordered_map(function, chunks, workers: int | None = None, desc: str = "chunks"):
    """Yield ``function(c)`` for each of ``chunks``, in order, computed by :func:`n_workers`
    threads (the heavy work runs in numba kernels and Pillow codecs that release the GIL), with
    a progress bar; a result is dropped here as soon as it is yielded."""
    chunks = list(chunks)
    workers = min(n_workers(workers), len(chunks))
    if workers <= 1:
        for chunk in progress(chunks, desc=desc, unit="chunk"):
            yield function(chunk)
        return
    with ThreadPoolExecutor(workers) as pool:
        yield from progress(pool.map(function, chunks), total=len(chunks), desc=desc, unit="chunk")
