"""Chapters on a Dask cluster give the numbers of an in-process run, key for key, also when a
worker is killed in the middle of a run (a real scheduler and workers on 127.0.0.1)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fercore import cluster, parameters, runner

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
PROFILE = "smoke"
TIMING = ("seconds", "time")


def metrics(chapter, repo):
    body = json.loads((Path(repo) / "results" / PROFILE / f"{chapter}.json").read_text())
    return {k: v for k, v in body["metrics"].items() if not any(t in k for t in TIMING)}


def unit_rows(chapter, repo):
    """Every stored unit's rows, timings aside, by file."""
    folder = Path(repo) / "results" / PROFILE / "units" / chapter
    out = {}
    for path in sorted(folder.glob("*/*.json")):
        rows = json.loads(path.read_text())["rows"]
        out[str(path.relative_to(folder))] = [{k: v for k, v in r.items() if not any(t in k for t in TIMING)} for r in rows]
    return out


def serial(chapters):
    """The in-process results in the repository (run here unless they are fresh already)."""
    outcomes = runner.run_chapters(chapters, PROFILE, device="cpu", repo=REPO)
    assert all(o.status in ("ran", "cached") for o in outcomes), outcomes
    return {c: metrics(c, REPO) for c in chapters}


@pytest.fixture
def other_repo(tmp_path):
    """A second checkout that shares the notebooks and the synthetic data, with its own results."""
    for name in ("notebooks", "data"):
        (tmp_path / name).symlink_to(REPO / name)
    (REPO / "data").mkdir(exist_ok=True)
    return tmp_path


def test_local_cluster_gives_the_serial_numbers(other_repo):
    chapters = ["dlp_dbm", "semantic_ae"]
    expected = serial(chapters)
    outcomes = runner.run_chapters(chapters, PROFILE, device="cpu", repo=other_repo, cluster="local:2")
    assert [o.status for o in outcomes] == ["ran", "ran"], outcomes
    for chapter in chapters:
        got = metrics(chapter, other_repo)
        assert sorted(got) == sorted(expected[chapter])
        assert {k: v for k, v in got.items() if v != expected[chapter][k]} == {}, chapter
        assert unit_rows(chapter, other_repo) == unit_rows(chapter, REPO)
        params = parameters.chapter_parameters(chapter, PROFILE, None, "cpu", other_repo)
        counts = cluster.unit_counts(chapter, PROFILE, params, other_repo)
        assert counts == {"done": len(unit_rows(chapter, REPO)), "running": 0, "failed": 0, "stale": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, cwd, log):
    env = {**os.environ, "FERCORE_QUIET": "1", "TQDM_DISABLE": "1"}
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_a_real_scheduler_survives_a_killed_worker(other_repo, tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes, as on a cluster; one worker is killed
    while it computes a unit; the unit is re-run on the other and the numbers do not change."""
    from distributed import Client

    chapter = "sjmt"
    expected = serial([chapter])[chapter]
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    logs = tmp_path_factory.mktemp("dask-logs")
    processes = []
    try:
        processes.append(start([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                "--no-dashboard"], other_repo, open(logs / "scheduler.log", "w")))
        for name in ("worker-a", "worker-b"):
            processes.append(start([dask, "worker", address, "--nthreads", "1", "--name", name, "--no-dashboard"],
                                   other_repo, open(logs / f"{name}.log", "w")))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            run = start([sys.executable, "-m", "fercore.cli", "run", chapter, "--profile", PROFILE, "--device", "cpu",
                         "--cluster", address], other_repo, open(logs / "run.log", "w"))
            processes.append(run)
            workers = {"worker-a": processes[1], "worker-b": processes[2]}
            killed = None
            deadline = time.monotonic() + 1800
            while run.poll() is None and time.monotonic() < deadline:
                busy = sorted(info["name"] for addr, info in client.scheduler_info()["workers"].items()
                              if any(str(key).startswith("unit-sjmt") for key in client.processing().get(addr, ())))
                if killed is None and busy:
                    time.sleep(1.0)  # in the middle of the unit
                    killed = busy[0]
                    stop(workers[killed])
                time.sleep(0.2)
            assert run.wait(timeout=60) == 0, (logs / "run.log").read_text()[-3000:]
            assert killed, "the run finished before a worker could be killed"
            survivors = [w["name"] for w in client.scheduler_info()["workers"].values()]
            assert survivors == [n for n in workers if n != killed]
        got = metrics(chapter, other_repo)
        assert sorted(got) == sorted(expected)
        assert {k: v for k, v in got.items() if v != expected[k]} == {}
        assert unit_rows(chapter, other_repo) == unit_rows(chapter, REPO)
    finally:
        for process in reversed(processes):
            stop(process)
