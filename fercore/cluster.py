"""Run chapters on a Dask cluster: ``fercore run CHAPTER … --cluster ADDRESS``.

The unit of work is one (grid point, seed) of an experiment, as :func:`fercore.seeds.run_over_seeds`
defines it. With a cluster, ``fercore run`` executes the chapter notebooks side by side (each in
its own process, on the machine that runs the command) and every notebook sends its units to the
scheduler instead of running them in its kernel; the notebook then builds its tables and figures
from the rows that come back. ``ADDRESS`` is ``local:N`` (N single-threaded worker processes on
this machine) or the address of a running scheduler (``tcp://host:8786``: a Slurm or PBS cluster
through dask-jobqueue, the GPUs of a node through dask-cuda, Kubernetes).

What crosses process boundaries:

* the runner tells each notebook kernel where the scheduler is (``FERCORE_CLUSTER``), the device
  (``FERCORE_CLUSTER_DEVICE``: ``cuda`` units ask their worker for a ``GPU`` resource, CPU units
  never wait for one), the file where it records its units' states (``FERCORE_UNIT_PROGRESS``:
  the terminal's progress bar and ``fercore status`` read it), and the chapter's code key
  (``FERCORE_UNIT_KEY``, see :func:`unit_code_key`) that goes into every stored unit's fingerprint;
* a unit's function is sent to the workers once per experiment, as a task the scheduler can
  recompute, so a worker lost in the middle of a run costs only its units, which are re-run on
  another worker with the same seed (``distributed.scheduler.allowed-failures`` times);
* a unit that raises cancels its experiment's other units and fails its notebook cell with the
  original exception; nothing of that experiment is stored.

A unit runs with the thread counts the notebook kernel has (PyTorch's intra-op threads, and each
BLAS and OpenMP pool's, library by library) and its CPU training precision
(:func:`fercore.train.use_cpu_precision`), wherever it lands, so its numbers equal an in-process run's: reductions are split
by thread, and a net trained or a classifier fitted with one thread differs in the last digits
from the same with two (Dask workers start with one BLAS thread).
``FERCORE_UNIT_THREADS=N`` sets every count to N instead (faster on a cluster of small workers,
but then the numbers are those of N threads).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
import warnings
from pathlib import Path

from fercore.results import write_json_atomic

CLUSTER_ENV = "FERCORE_CLUSTER"
DEVICE_ENV = "FERCORE_CLUSTER_DEVICE"
PROGRESS_ENV = "FERCORE_UNIT_PROGRESS"
UNIT_KEY_ENV = "FERCORE_UNIT_KEY"
REUSE_ENV = "FERCORE_REUSE_UNITS"
THREADS_ENV = "FERCORE_UNIT_THREADS"

MAX_CONCURRENT_CHAPTERS = 4
"""Chapter notebooks that run side by side on the machine that runs ``fercore run``."""

GPU = "GPU"
"""The Dask worker resource a unit asks for when the device is ``cuda``: start GPU workers with
``--resources GPU=1`` (``dask worker``, dask-jobqueue's ``worker_extra_args``, dask-cuda)."""

_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://[^\s/]+$")


# ---------------------------------------------------------------- addresses and clusters


def parse_address(text: str) -> tuple[str, object]:
    """``("local", N)`` for ``local:N``, else ``("scheduler", address)`` for a scheduler address
    (``tcp://host:port``; a bare ``host:port`` means TCP)."""
    text = str(text).strip()
    if text.startswith("local:"):
        count = text.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--cluster {text!r}: expected local:N with N ≥ 1 worker processes")
        return "local", int(count)
    if "://" not in text and re.match(r"^[A-Za-z0-9_.\-]+:\d+$", text):
        text = f"tcp://{text}"
    if not _ADDRESS.match(text):
        raise ValueError(f"--cluster {text!r}: expected local:N or a scheduler address like tcp://host:8786")
    return "scheduler", text


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def local_cluster(n_workers: int, device: str = "cpu"):
    """N single-threaded worker processes on this machine. With ``cuda`` each worker offers one
    ``GPU`` resource and sees only its own device (``CUDA_VISIBLE_DEVICES``, round robin over the
    GPUs present)."""
    import logging

    from distributed import Nanny, Scheduler, SpecCluster

    gpus = _gpu_count() if device == "cuda" else 0
    if device == "cuda" and not gpus:
        raise RuntimeError("--device cuda with --cluster local:N, but no GPU is visible")
    workers = {}
    for i in range(n_workers):
        env = {"FERCORE_QUIET": "1", "TQDM_DISABLE": "1"}
        options = {"nthreads": 1, "silence_logs": logging.ERROR, "env": env}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
            options["resources"] = {GPU: 1}
        workers[f"local-{i}"] = {"cls": Nanny, "options": options}
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": ":0"}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR, name="fercore")


def check_scheduler(address: str, device: str, timeout: float = 30.0) -> int:
    """Connect to a scheduler and return its worker count; a clear error when it cannot be
    reached, has no workers, or (``cuda``) no worker offers a ``GPU`` resource."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise RuntimeError(f"--cluster {address}: no Dask scheduler answered ({e})") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise RuntimeError(f"--cluster {address}: the scheduler has no workers") from None
        workers = client.scheduler_info()["workers"].values()
        if device == "cuda" and not any(w.get("resources", {}).get(GPU) for w in workers):
            raise RuntimeError(f"--cluster {address}: --device cuda, but no worker offers a {GPU} resource "
                               f"(start GPU workers with --resources {GPU}=1)")
        return len(workers)


@contextlib.contextmanager
def connect(address: str, device: str = "cpu"):
    """The scheduler address for ``--cluster ADDRESS``: ``local:N`` starts (and at the end stops)
    a local cluster; a scheduler address is checked and used as it is."""
    kind, value = parse_address(address)
    if kind == "scheduler":
        check_scheduler(value, device)
        yield value
        return
    names = _thread_environment()
    own = {name: os.environ.get(name) for name in names}
    try:
        with local_cluster(value, device) as cluster:
            _set_environment(own)  # the nannies set their workers' variables here too
            yield cluster.scheduler_address
    finally:
        _set_environment(own)


def _set_environment(values: dict) -> None:
    """Set variables (``None``: remove)."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# ---------------------------------------------------------------- inside a notebook kernel


_client = None


def _get_client():
    """The kernel's client of the scheduler in ``FERCORE_CLUSTER``; its log stays out of the notebook."""
    global _client
    import logging

    from distributed import Client

    if _client is None or _client.status not in ("running", "connecting", "newly-created"):
        logging.getLogger("distributed").setLevel(logging.ERROR)
        _client = Client(os.environ[CLUSTER_ENV], set_as_default=False, timeout=60)
    return _client


def _value(x):
    return x


def _thread_counts() -> dict:
    """This process's thread counts: PyTorch's intra-op threads (``"torch"``) and each native
    thread pool's (BLAS, OpenMP), by library file name, as :mod:`threadpoolctl` reports them. A
    unit's numbers depend on them. Pools are told apart by library, not by kind: PyTorch's own
    OpenMP runtime and scikit-learn's run with different counts, and giving PyTorch's the other's
    count changes a trained net's numbers."""
    import sklearn  # noqa: F401  (loads the OpenMP runtime scikit-learn uses)
    import torch
    from threadpoolctl import ThreadpoolController

    counts = {"torch": torch.get_num_threads()}
    for pool in ThreadpoolController().lib_controllers:
        counts[Path(pool.filepath).name] = pool.num_threads
    forced = os.environ.get(THREADS_ENV)
    return {name: int(forced) for name in counts} if forced else counts


def _run_on_worker(function, unit, threads, precision):
    """``(function(unit), seconds)`` with the thread counts ``threads`` (:func:`_thread_counts`)
    and the CPU training ``precision``; the worker's own settings come back afterwards."""
    import sklearn  # noqa: F401
    import torch
    from threadpoolctl import ThreadpoolController

    from fercore.train import cpu_precision, use_cpu_precision

    pools = [p for p in ThreadpoolController().lib_controllers if Path(p.filepath).name in threads]
    before = [(p, p.num_threads) for p in pools]
    torch_before, precision_before = torch.get_num_threads(), cpu_precision()
    try:
        for pool in pools:
            pool.set_num_threads(threads[Path(pool.filepath).name])
        torch.set_num_threads(threads["torch"])  # last: PyTorch's OpenMP pool is one of the pools
        use_cpu_precision(precision)
        start = time.perf_counter()
        return function(unit), time.perf_counter() - start
    finally:
        for pool, count in before:
            pool.set_num_threads(count)
        torch.set_num_threads(torch_before)
        use_cpu_precision(precision_before)


def unit_mapper(experiment: str):
    """The ``map_units`` of :func:`fercore.seeds.run_over_seeds` inside a kernel that ``fercore
    run --cluster`` started: the units go to the scheduler; ``None`` elsewhere (run in-process)."""
    if not os.environ.get(CLUSTER_ENV):
        return None
    return lambda function, units: map_on_cluster(function, units, experiment)


def map_on_cluster(function, units, experiment: str) -> list:
    """``[function(u) for u in units]`` computed on the cluster, in the units' order."""
    from distributed import as_completed

    units = list(units)
    if not units:
        return []
    client = _get_client()
    states = UnitProgress.from_env()
    token = uuid.uuid4().hex[:8]
    with warnings.catch_warnings():  # the function and the data it holds are sent once, on purpose
        warnings.filterwarnings("ignore", message=".*large graph.*")
        carrier = client.submit(_value, function, key=f"unit-function-{experiment}-{token}", pure=False)
    resources = {GPU: 1} if os.environ.get(DEVICE_ENV) == "cuda" else None
    names = [f"{experiment}/{u.slug}" for u in units]
    from fercore.train import cpu_precision

    threads, precision = _thread_counts(), cpu_precision()
    futures = client.map(_run_on_worker, [carrier] * len(units), units, [threads] * len(units),
                         [precision] * len(units),
                         key=[f"unit-{n}-{token}" for n in names], resources=resources, pure=False)
    by_key = dict(zip((f.key for f in futures), names))
    states.update({n: "running" for n in names})
    done = {}
    try:
        for future, outcome in as_completed(futures, loop=client.loop, with_results=True, raise_errors=False):
            name = by_key[future.key]
            if future.status != "finished":
                states.update({name: "failed"}, flush=True)
                future.result()  # raises the unit's own exception
            done[future.key], seconds = outcome
            states.update({name: "done"}, seconds={name: round(seconds, 3)})
        return [done[f.key] for f in futures]
    finally:
        left = {by_key[f.key]: "cancelled" for f in futures if f.status not in ("finished", "error")}
        client.cancel([f for f in futures if f.status not in ("finished", "error")] + [carrier])
        states.update(left, flush=True)


# ---------------------------------------------------------------- unit states of a chapter run


class UnitProgress:
    """The states of one chapter run's units (``running``, ``done``, ``failed``, ``cancelled``),
    kept in a JSON file that the runner's progress bar and ``fercore status`` read."""

    def __init__(self, path=None, min_interval: float = 0.5):
        self.path = Path(path) if path else None
        self.states: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.min_interval = min_interval
        self._written = 0.0

    @classmethod
    def from_env(cls) -> "UnitProgress":
        path = os.environ.get(PROGRESS_ENV)
        key = str(path)
        if key not in _progress:
            _progress[key] = cls(path)
        return _progress[key]

    def update(self, states: dict, flush: bool = False, seconds=None) -> None:
        """Set units' states (and, for finished ones, the seconds they took on their worker)."""
        self.states.update(states)
        self.seconds.update(seconds or {})
        if self.path and (flush or time.monotonic() - self._written >= self.min_interval
                          or all(s != "running" for s in self.states.values())):
            write_json_atomic(self.path, {"units": self.states, "seconds": self.seconds})
            self._written = time.monotonic()

    @staticmethod
    def read(path) -> dict[str, str]:
        try:
            return json.loads(Path(path).read_text()).get("units", {})
        except (OSError, ValueError):
            return {}


_progress: dict[str, UnitProgress] = {}


def progress_path(chapter: str, profile: str, repo=".") -> Path:
    """``results/<profile>/units/<chapter>.progress.json``."""
    return Path(repo) / "results" / profile / "units" / f"{chapter}.progress.json"


def unit_code_key(chapter: str, params: dict, repo=".") -> str:
    """What a chapter's stored units depend on besides their own context and seed: the notebook's
    code cells, the source of every ``fercore`` module it imports, the data manifests and every
    parameter but the seed counts (``n_seeds``, ``*_seeds``), so that adding seeds re-uses the
    units already stored and any other change re-runs them."""
    import hashlib

    import nbformat

    from fercore import parameters, run_state
    from fercore.seeds import SEED_COUNT

    nb = nbformat.read(parameters.notebook_path(chapter, repo), as_version=4)
    digest = hashlib.sha256()
    code = run_state.notebook_code(nb)
    digest.update(code.encode())
    kept = {k: v for k, v in params.items() if k != SEED_COUNT and not k.endswith("_seeds")}
    digest.update(json.dumps(kept, sort_keys=True, default=str).encode())
    for path in run_state.fercore_dependencies(code):
        digest.update(str(path.relative_to(run_state.PACKAGE_DIR)).encode() + b"\0" + path.read_bytes())
    root = Path(repo) / params.get("data_root", "")
    if params.get("data_root"):
        for manifest in sorted(root.glob("manifest.json")) + sorted(root.glob("*/manifest.json")):
            digest.update(manifest.read_bytes())
    return digest.hexdigest()[:16]


def unit_counts(chapter: str, profile: str, params: dict, repo=".", chapter_fresh=False) -> dict[str, int]:
    """A chapter's units: ``done`` (stored under the current code key), ``stale`` (stored under
    another), ``running`` and ``failed`` (the last cluster run). Units stored by an in-process
    run carry no code key: they count as done while the chapter is fresh, else as stale."""
    folder = Path(repo) / "results" / profile / "units" / chapter
    key = unit_code_key(chapter, params, repo)
    counts = {"done": 0, "running": 0, "failed": 0, "stale": 0}
    for path in folder.glob("*/*.json"):
        try:
            stored = json.loads(path.read_text()).get("context", {}).get("code_key")
        except (OSError, ValueError):
            stored = None
        current = stored == key or (stored is None and chapter_fresh)
        counts["done" if current else "stale"] += 1
    for state in UnitProgress.read(progress_path(chapter, profile, repo)).values():
        if state in ("running", "failed"):
            counts[state] += 1
    return counts


# ---------------------------------------------------------------- the runner's side


def _run_chapter(chapter, profile, overrides, device, repo, force, env, options):
    """One chapter through :func:`fercore.runner.run_chapters`, in its own process, its kernel
    pointed at the cluster."""
    from fercore import parameters, runner

    _set_environment(env)
    os.environ[PROGRESS_ENV] = str(progress_path(chapter, profile, repo))
    params = parameters.chapter_parameters(chapter, profile, overrides, device, repo)
    os.environ[UNIT_KEY_ENV] = unit_code_key(chapter, params, repo)
    try:
        return runner.run_chapters([chapter], profile, overrides, device, repo, force, log=_print, **options)
    finally:
        states = UnitProgress.read(os.environ[PROGRESS_ENV])
        if any(s == "running" for s in states.values()):  # a kernel that died mid-experiment
            write_json_atomic(os.environ[PROGRESS_ENV],
                              {"units": {k: "cancelled" if s == "running" else s for k, s in states.items()}})


def _thread_environment() -> list[str]:
    """The variables Dask's nannies set, in their own process too, for their workers
    (``distributed.nanny.pre-spawn-environ``: thread counts; and ``PYTHONHASHSEED``)."""
    import dask
    import distributed  # noqa: F401  (registers the distributed configuration)

    return [*dask.config.get("distributed.nanny.pre-spawn-environ", {}), "PYTHONHASHSEED"]


def _print(line):
    print(line, flush=True)


def run_chapters_on_cluster(address, chapters, profile, overrides, device, repo, force, log, **options) -> list:
    """:func:`fercore.runner.run_chapters` (``options``: its other keywords) with the units on the
    cluster at ``address`` and up to :data:`MAX_CONCURRENT_CHAPTERS` chapter notebooks side by
    side, each of which generates its data if needed; one progress bar counts the units done over
    all running chapters."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from fercore import parameters, runner
    from fercore.progress import progress

    order = [c for c in parameters.CHAPTERS if c in (chapters or parameters.CHAPTERS)]
    for chapter in chapters or []:
        parameters.notebook_path(chapter, repo)
    device = parameters.device_name(device)
    for chapter in order:  # parameter errors before anything starts
        parameters.chapter_parameters(chapter, profile, overrides, device, repo)
    repo = str(Path(repo).resolve())
    for chapter in order:
        write_json_atomic(progress_path(chapter, profile, repo), {"units": {}})
    outcomes = {}
    # a nanny sets OMP_NUM_THREADS=1 (and the like) in this process whenever it starts a worker:
    # the notebooks get this machine's own settings, so that their units compute as in-process
    own = {name: os.environ.get(name) for name in _thread_environment()}
    with connect(address, device) as scheduler:
        log(f"cluster: {scheduler} ({address}); chapters: {', '.join(order)}")
        env = {**own, CLUSTER_ENV: scheduler, DEVICE_ENV: device, REUSE_ENV: "" if force else "1",
               "FERCORE_QUIET": "1"}
        context = multiprocessing.get_context("spawn")
        bar = progress(total=0, unit="unit", desc="units")
        with ProcessPoolExecutor(min(len(order), MAX_CONCURRENT_CHAPTERS) or 1, mp_context=context) as pool:
            pending = {pool.submit(_run_chapter, c, profile, overrides, device, repo, force, env, options): c
                       for c in order}
            while pending:
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    chapter = pending.pop(future)
                    try:
                        outcomes[chapter] = future.result()[0]
                    except Exception as e:  # the chapter's process died
                        outcomes[chapter] = runner.Outcome(chapter, "failed", message=f"{chapter}: {type(e).__name__}: {e}")
                _update_bar(bar, order, pending.values(), profile, repo)
        bar.close()
    return [outcomes[c] for c in order]


def _update_bar(bar, order, running, profile, repo) -> None:
    done = total = 0
    for chapter in order:
        states = UnitProgress.read(progress_path(chapter, profile, repo))
        total += len(states)
        done += sum(s == "done" for s in states.values())
    bar.total = total
    bar.n = done
    bar.set_description(f"units ({', '.join(running) or 'done'})", refresh=False)
    bar.refresh()

