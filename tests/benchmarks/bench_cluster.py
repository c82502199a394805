"""Chapters on a Dask cluster: scheduler overhead, smoke wall times, and the plan for ``full``.

Three parts, each printing its figures with the load average of the machine at the time:

* ``overhead``: trivial units through :func:`fercore.seeds.run_over_seeds` on ``local:2``, for
  10, 100 and 1,000 units: wall time, milliseconds per unit, against the same units in-process;
* ``book``: ``fercore run CHAPTERS --profile P --force`` in-process and with ``--cluster
  local:2``, each in its own results folder (notebooks and data shared), wall seconds;
* ``plan``: the units each chapter of the ``full`` profile has (from ``fercore/profiles.yaml``)
  and the wall time of the chapters that farm units out, on 1, 8 and 64 GPUs, from per-unit
  GPU costs (two measured throughputs, the rest estimates: :data:`GPU_IMAGES_PER_SECOND`,
  :data:`CPU_CLASSIFIER_SECONDS`), with the longest unit as the bound.

    python tests/benchmarks/bench_cluster.py overhead
    python tests/benchmarks/bench_cluster.py book --profile smoke --chapters dlp_dbm semantic_ae
    python tests/benchmarks/bench_cluster.py plan [--check-smoke]
"""

import argparse
import heapq
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---------------------------------------------------------------- scheduler overhead


def trivial(seed):
    return {"value": seed * 0.5}


def overhead(sizes=(10, 100, 1000), workers=2, repeats=3):
    from fercore import cluster
    from fercore.seeds import run_over_seeds

    print(f"scheduler overhead, local:{workers}, median of {repeats} runs")
    print(f"{'units':>6} {'in-process s':>13} {'cluster s':>10} {'ms/unit':>8}")
    with cluster.connect(f"local:{workers}") as address:
        os.environ[cluster.CLUSTER_ENV] = address
        run_over_seeds(trivial, range(50), experiment="bench.warmup")  # connect; every worker imports torch
        for n in sizes:
            start = time.perf_counter()
            run_over_seeds(trivial, range(n), experiment=f"bench.n{n}", map_units=map)
            local = time.perf_counter() - start
            walls = []
            for _ in range(repeats):
                start = time.perf_counter()
                table = run_over_seeds(trivial, range(n), experiment=f"bench.n{n}")
                walls.append(time.perf_counter() - start)
                assert len(table) == n
            farmed = statistics.median(walls)
            print(f"{n:6d} {local:13.4f} {farmed:10.2f} {1000 * farmed / n:8.2f}   ({load()})")
        del os.environ[cluster.CLUSTER_ENV]


# ---------------------------------------------------------------- the book, serial and on local:2


def book(profile, chapters, workers=2):
    from fercore import parameters, runner

    chapters = chapters or list(parameters.CHAPTERS)
    print(f"fercore run {' '.join(chapters)} --profile {profile} --force")
    for label, address in (("in-process", None), (f"--cluster local:{workers}", f"local:{workers}")):
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("notebooks", "data"):
                (Path(tmp) / name).symlink_to(REPO / name)
            before = load()
            start = time.perf_counter()
            outcomes = runner.run_chapters(chapters, profile, device="cpu", repo=tmp, force=True, cluster=address,
                                           log=lambda line: None)
            wall = time.perf_counter() - start
            status = ", ".join(f"{o.chapter} {o.status} {o.seconds:.0f} s" for o in outcomes)
            print(f"{label:<20} {wall:8.0f} s wall  ({before} → {load()})  [{status}]")
            if address:
                from fercore.cluster import UnitProgress, progress_path

                for chapter in chapters:
                    seconds = json.loads(progress_path(chapter, profile, tmp).read_text()).get("seconds", {})
                    if seconds:
                        longest = max(seconds, key=seconds.get)
                        print(f"{'':<20} {chapter}: {len(seconds)} units, {sum(seconds.values()):.0f} s of unit time, "
                              f"longest {longest} {seconds[longest]:.0f} s")


# ---------------------------------------------------------------- the plan for `full`


def unit_plan(chapter: str, p: dict) -> dict:
    """The units of a chapter for parameters ``p`` as ``{experiment: count}``, following the
    chapter notebook's calls of :func:`fercore.seeds.run_over_seeds`."""
    if chapter == "dlp_dbm":
        return {"dlp_dbm.basic": 3 * p["n_seeds"], "dlp_dbm.multilabel": 2 * p["n_seeds"],
                "dlp_dbm.ablation": 2 * p["ablation_seeds"]}
    if chapter == "domain_adaptation":
        return {"domain_adaptation.transfer": p["n_seeds"]}
    if chapter == "sjmt":
        resnets = [n for n in p["nets"] if n.startswith("resnet")]
        per = {"sjmt.table1.single": 2 * len(p["nets"]) * p["n_seeds"] + 2 * len(p["nets"]) * p["ckplus_seeds"],
               "sjmt.table2": 2 * len(resnets) * p["n_seeds"],
               "sjmt.table4": 2 * len(p["compound_nets"] or p["nets"][:1]) * p["n_seeds"]}
        return per
    if chapter == "semantic_ae":
        ablation = 4 + (p["mask_start"] > 0)  # T, ce_bb, focal_none, focal_weighted (+ BT from the start)
        return {"semantic_ae.table8": 2 * p["n_seeds"] + ablation * p["ablation_seeds"],
                "semantic_ae.batch": 2 * len(p["batch_sizes"]) * p["ablation_seeds"],
                "semantic_ae.sequence": 2 * 2 * p["n_seeds"]}
    return {}


GPU_IMAGES_PER_SECOND = {
    # measured on one H100 (fercore/profiles.yaml, the sjmt block):
    "resnet32": 7500, "resnet110": 2800,
    # estimates, not measured (no GPU on this machine):
    "vgg16": 10000,        # VGG-16 at 48×48, batch 128
    "basedcnn90": 5000,    # RAF-DB's baseDCNN at 90×90, batch 64
    "semantic112": 3000,   # the two-branch net at 112×112, batch 63 (×2 when neighbours are scored)
}
CPU_CLASSIFIER_SECONDS = {"dlp_dbm.basic": 1800, "dlp_dbm.multilabel": 1200, "dlp_dbm.ablation": 300,
                          "domain_adaptation.transfer": 1800}
"""Estimates: the classical classifiers a unit fits on 2,000-d features after training (SVM grid
search on 12,271 faces, six multi-label classifiers on 4,090), on one CPU core of the worker."""


def unit_groups(chapter: str, p: dict) -> tuple[list[list[float]], float, float]:
    """A chapter's units as the notebook sends them: a list of groups (one call of
    :func:`fercore.seeds.run_over_seeds` each; a call waits for all its units), each a list of
    per-unit GPU-worker seconds; and the seconds of the notebook's own GPU work before its units
    can start and after they are done (pre-training, a sweep run in the notebook)."""
    ips = GPU_IMAGES_PER_SECOND
    n, a = p.get("n_seeds", 1), p.get("ablation_seeds", 1)
    if chapter == "dlp_dbm":
        train = p["iterations"] * p["batch_size"] / ips["basedcnn90"]
        cost = {e: train + CPU_CLASSIFIER_SECONDS[e] for e in CPU_CLASSIFIER_SECONDS if e.startswith("dlp")}
        groups = [[cost["dlp_dbm.basic"]] * 3 * n] + [[cost["dlp_dbm.multilabel"]] * n] * 2
        groups += [[cost["dlp_dbm.ablation"]] * a] * 2
        sweep = len(p["sweep_lambdas"]) + len(p["sweep_ks"]) - 3  # λ=0, the default λ and k re-use trained nets
        return groups, 0.0, max(sweep, 0) * (train + 600)
    if chapter == "domain_adaptation":
        pretrain = 2 * p["pretrain_iterations"] * p["batch_size"] / ips["basedcnn90"]
        adapt = 4 * (p["adapt_iterations"] + p["finetune_iterations"]) * (p["batch_size"] + p["target_batch_size"]) / ips["basedcnn90"]
        select = (len(p["gamma_grid"]) + len(p["eta_grid"])) * adapt
        unit = pretrain + adapt + CPU_CLASSIFIER_SECONDS["domain_adaptation.transfer"]
        return [[unit] * n], pretrain + select, 0.0
    if chapter == "sjmt":
        images = p["iterations"] * p["batch_size"]
        cost = {net: images / ips[net] for net in p["nets"]}
        resnets = [net for net in p["nets"] if net.startswith("resnet")]
        compound = p["compound_nets"] or p["nets"][:1]
        groups = [[cost[net] for net in p["nets"] for _ in range(seeds)]
                  for seeds in (n, p["ckplus_seeds"], n, p["ckplus_seeds"])]  # Table 1: four single-task setups
        groups += [[cost[net] for net in resnets for _ in range(n)]] * 2  # Table 2: multi-task, SJMT
        groups += [[images / ips[net] for net in compound for _ in range(n)]] * 2  # Table 4
        pretrain = sum(p["pretrain_iterations"] * p["batch_size"] / ips[net] for net in dict.fromkeys(p["nets"] + compound))
        return groups, pretrain, 0.0
    if chapter == "semantic_ae":
        plain = p["iterations"] * p["batch_size"] / ips["semantic112"]
        masked = 2 * plain  # neighbours through the autoencoder and the net at every step
        groups = [[plain] * n, [masked] * n, [masked] * a] + [[plain] * a] * 3  # Table VIII
        for size in p["batch_sizes"]:  # Table VI: the same images in smaller batches
            groups += [[masked * max(1.0, 63 / size) ** 0.5] * a] * 2
        sequence = 1.5 * p["sequence_iterations"] * p["sequence_batch_size"] / ips["semantic112"]
        groups += [[sequence] * n] * 4  # Table VII: CK+ and Oulu-CASIA, without and with
        autoencoder = (p["ae_pretrain_iterations"] * p["ae_pretrain_batch_size"] + p["ae_refine_iterations"] * 64) / ips["semantic112"]
        return groups, autoencoder, 0.0
    return [], 0.0, 0.0


def makespan(units, gpus: int) -> float:
    """Longest-first list scheduling of unit seconds on ``gpus`` workers."""
    free = [0.0] * gpus
    for cost in sorted(units, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free) if units else 0.0


def plan(check_smoke=False):
    from fercore import parameters

    print("units of the `full` profile per chapter (from fercore/profiles.yaml):")
    rows = {}
    for chapter in parameters.CHAPTERS:
        p = parameters.chapter_parameters(chapter, "full", None, "cuda")
        counts = unit_plan(chapter, p)
        rows[chapter] = unit_groups(chapter, p)
        text = ", ".join(f"{k} {v}" for k, v in counts.items()) or "one unit (the notebook itself)"
        print(f"  {chapter:<18} {sum(counts.values()) or 1:3d}  {text}")
    gpus = (1, 8, 64)
    print("\nwall time in hours on 1, 8 and 64 GPUs: 1 GPU runs everything in sequence; otherwise the notebook's "
          "own GPU work (pre-training, a sweep) runs on the driver and the units on the workers, longest first.")
    print("'as called': each run_over_seeds call waits for its units before the next is sent (the notebooks today); "
          "'all at once': a chapter's units sent together (bound: notebook work + the longest unit).")
    print(f"  {'chapter':<18} {'units':>5} {'unit-h':>7} {'notebook h':>10} {'longest h':>9} "
          f"{'1 GPU':>6} | as called: {'8':>5} {'64':>5} | all at once: {'8':>5} {'64':>5}")
    totals = {"units": 0, "unit": 0.0, "notebook": 0.0}
    spans = []
    for chapter, (groups, before, after) in rows.items():
        costs = [c for g in groups for c in g]
        if not costs:
            continue
        notebook, longest = before + after, max(costs)
        called = [notebook + sum(makespan(g, k) for g in groups) for k in gpus[1:]]
        at_once = [notebook + makespan(costs, k) for k in gpus[1:]]
        print(f"  {chapter:<18} {len(costs):5d} {sum(costs) / 3600:7.1f} {notebook / 3600:10.1f} {longest / 3600:9.2f} "
              f"{(sum(costs) + notebook) / 3600:6.1f} | {'':>10} {called[0] / 3600:5.1f} {called[1] / 3600:5.1f} "
              f"| {'':>12} {at_once[0] / 3600:5.1f} {at_once[1] / 3600:5.1f}")
        totals["units"] += len(costs)
        totals["unit"] += sum(costs)
        totals["notebook"] += notebook
        spans.append((called, at_once))
    print(f"  {'total':<18} {totals['units']:5d} {totals['unit'] / 3600:7.1f} {totals['notebook'] / 3600:10.1f}")
    # the four chapters side by side: at least the work spread over all GPUs, at least the longest chapter
    book = [[max(totals["unit"] / k, max(s[way][i] for s in spans)) for i, k in enumerate(gpus[1:])] for way in (0, 1)]
    print(f"  the four side by side (lower bound), 1 GPU {(totals['unit'] + totals['notebook']) / 3600:.1f} h; "
          f"as called: 8 GPUs {book[0][0] / 3600:.1f} h, 64 GPUs {book[0][1] / 3600:.1f} h; "
          f"all at once: 8 GPUs {book[1][0] / 3600:.1f} h, 64 GPUs {book[1][1] / 3600:.1f} h")
    if check_smoke:
        print("\ncheck against the units a smoke run stored:")
        for chapter in parameters.CHAPTERS:
            folder = REPO / "results" / "smoke" / "units" / chapter
            stored = len(list(folder.glob("*/*.json")))
            planned = sum(unit_plan(chapter, parameters.chapter_parameters(chapter, "smoke", None, "cpu")).values())
            if stored or planned:
                print(f"  {chapter:<18} planned {planned:3d}  stored {stored:3d}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["overhead", "book", "plan"])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--chapters", nargs="*")
    parser.add_argument("--check-smoke", action="store_true")
    args = parser.parse_args()
    if args.part == "overhead":
        overhead()
    elif args.part == "book":
        book(args.profile, args.chapters)
    else:
        plan(args.check_smoke)


if __name__ == "__main__":
    main()
