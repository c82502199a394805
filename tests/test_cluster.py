"""Units on a Dask cluster: addresses, the same rows as in-process, faults, re-use, progress states."""

import json
import os
import socket
from pathlib import Path

import pytest

from fercore import cluster
from fercore.seeds import UnitStore, grid, run_over_seeds

distributed = pytest.importorskip("distributed")


def score(seed, lam=0.0):
    return [{"metric": "a", "value": lam * 10 + seed}, {"metric": "b", "value": -seed * lam}]


def test_addresses_are_checked():
    assert cluster.parse_address("local:2") == ("local", 2)
    assert cluster.parse_address("tcp://10.0.0.5:8786") == ("scheduler", "tcp://10.0.0.5:8786")
    assert cluster.parse_address("node12:8786") == ("scheduler", "tcp://node12:8786")
    for bad in ("local:0", "local:x", "8786", "http://host:8786", "tcp://"):
        with pytest.raises(ValueError, match="--cluster"):
            cluster.parse_address(bad)


def test_no_cluster_means_in_process(monkeypatch):
    monkeypatch.delenv(cluster.CLUSTER_ENV, raising=False)
    assert cluster.unit_mapper("test.x") is None


@pytest.fixture(scope="module")
def local_scheduler():
    with cluster.connect("local:2") as address:
        yield address
        if cluster._client is not None:  # the client units went through in this process
            cluster._client.close()
            cluster._client = None


@pytest.fixture
def on_cluster(local_scheduler, monkeypatch, tmp_path):
    monkeypatch.setenv(cluster.CLUSTER_ENV, local_scheduler)
    monkeypatch.setenv(cluster.PROGRESS_ENV, str(tmp_path / "progress.json"))
    return tmp_path / "progress.json"


def test_units_on_a_cluster_give_the_serial_table(on_cluster, tmp_path):
    serial = run_over_seeds(score, [0, 1, 2], grid(lam=[0.5, 2.0]), experiment="test.sweep", map_units=map)
    store = UnitStore(tmp_path / "units", {"k": 1})
    farmed, kept = run_over_seeds(score, [0, 1, 2], grid(lam=[0.5, 2.0]), experiment="test.sweep", store=store,
                                  keep=True)
    assert farmed.equals(serial)
    assert len(kept) == 6 and len(list((tmp_path / "units" / "test.sweep").glob("*.json"))) == 6
    states = json.loads(on_cluster.read_text())["units"]
    assert sorted(states) == sorted(f"test.sweep/lam={lam:g},seed={s}" for lam in (0.5, 2.0) for s in range(3))
    assert set(states.values()) == {"done"}


def failing(seed):
    if seed == 1:
        raise ArithmeticError(f"seed {seed} diverged")
    return {"value": seed}


def test_a_unit_that_raises_fails_with_its_exception_and_stores_nothing(on_cluster, tmp_path):
    store = UnitStore(tmp_path / "units")
    with pytest.raises(ArithmeticError, match="seed 1 diverged"):
        run_over_seeds(failing, [0, 1, 2], experiment="test.failing", store=store)
    assert not (tmp_path / "units" / "test.failing").exists()
    assert json.loads(on_cluster.read_text())["units"]["test.failing/seed=1"] == "failed"


def dies_once(seed, marker):
    """Kills its worker process the first time it runs seed 1 (as a lost node would)."""
    if seed == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return {"value": seed * 0.25, "pid": 0}


def test_a_unit_whose_worker_dies_is_rerun_elsewhere(on_cluster, tmp_path):
    from functools import partial

    marker = str(tmp_path / "died")
    table = run_over_seeds(partial(dies_once, marker=marker), [0, 1, 2, 3], experiment="test.dies")
    assert os.path.exists(marker)
    assert table["value"].tolist() == [0.0, 0.25, 0.5, 0.75]


def counted(seed, log):
    with open(log, "a") as f:
        f.write(f"{seed}\n")
    return {"value": seed + 0.5}


def test_stored_units_are_not_sent_again(on_cluster, tmp_path):
    from functools import partial

    log = tmp_path / "calls"
    store = UnitStore(tmp_path / "units", {"code_key": "abc"}, reuse=True)
    first = run_over_seeds(partial(counted, log=str(log)), [0, 1], experiment="test.reuse", store=store)
    more = run_over_seeds(partial(counted, log=str(log)), [0, 1, 2, 3], experiment="test.reuse", store=store)
    assert log.read_text().split() == ["0", "1", "2", "3"]  # seeds 0 and 1 came from the store
    assert more.iloc[:2].equals(first) and more["value"].tolist() == [0.5, 1.5, 2.5, 3.5]
    changed = UnitStore(tmp_path / "units", {"code_key": "def"}, reuse=True)
    run_over_seeds(partial(counted, log=str(log)), [0], experiment="test.reuse", store=changed)
    assert log.read_text().split()[-1] == "0"  # another code key: run again


def test_a_scheduler_that_cannot_serve_the_run_is_named(local_scheduler):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RuntimeError, match="no Dask scheduler answered"):
        cluster.check_scheduler(f"tcp://127.0.0.1:{port}", "cpu", timeout=2)
    assert cluster.check_scheduler(local_scheduler, "cpu") == 2
    with pytest.raises(RuntimeError, match="no worker offers a GPU resource"):
        cluster.check_scheduler(local_scheduler, "cuda")


def test_the_bar_counts_units_over_running_chapters(tmp_path):
    import io

    from tqdm import tqdm

    for chapter, states in (("dlp_dbm", {"a": "done", "b": "running"}), ("sjmt", {"c": "done", "d": "done", "e": "failed"})):
        cluster.UnitProgress(cluster.progress_path(chapter, "smoke", tmp_path), min_interval=0).update(states)
    bar = tqdm(total=0, file=io.StringIO())
    cluster._update_bar(bar, ["dlp_dbm", "sjmt"], ["dlp_dbm"], "smoke", tmp_path)
    assert (bar.n, bar.total) == (3, 5) and bar.desc.startswith("units (dlp_dbm)")
    assert cluster.UnitProgress.read(tmp_path / "missing.json") == {}


def test_starting_local_workers_leaves_this_process_environment_alone(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with cluster.connect("local:1"):
        assert "OMP_NUM_THREADS" not in os.environ  # notebooks started now keep this machine's threads
    assert "OMP_NUM_THREADS" not in os.environ


def _pool_counts():
    import torch
    from threadpoolctl import ThreadpoolController

    torch_pools = Path(torch.__file__).parent
    return {"torch": torch.get_num_threads(),
            **{Path(p.filepath).name: p.num_threads for p in ThreadpoolController().lib_controllers
               if Path(p.filepath).is_relative_to(torch_pools)}}


def test_a_unit_runs_with_the_kernels_thread_counts_pool_by_pool():
    """PyTorch's own OpenMP pool keeps PyTorch's count inside a unit, even where another OpenMP
    pool (scikit-learn's) has more threads, and the worker's counts come back after it."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=2, user_api="openmp"):
        try:
            torch.set_num_threads(1)
            threads, kernel = cluster._thread_counts(), _pool_counts()
            torch.set_num_threads(2)
            worker = _pool_counts()
            inside, _ = cluster._run_on_worker(lambda unit: _pool_counts(), None, threads, "fp32")
            assert inside == kernel
            assert _pool_counts() == worker
        finally:
            torch.set_num_threads(before)


def test_a_unit_trains_in_the_kernels_cpu_precision_and_the_workers_comes_back():
    from fercore.train import cpu_precision

    assert cpu_precision() == "fp32"
    inside, _ = cluster._run_on_worker(lambda unit: cpu_precision(), None, cluster._thread_counts(), "bf16")
    assert inside == "bf16"
    assert cpu_precision() == "fp32"
