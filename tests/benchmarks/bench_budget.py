"""How much a deep chapter's baseline gains from a larger training budget, measured by retraining.

A chapter's learning curve reads one run at intermediate steps, where the learning rate has not
yet decayed, so its last stretch mixes more training with the end of the schedule. Here the
chapter's baseline is trained from scratch at several budgets (multiples of the profile's
``iterations``), each with its whole schedule, by the chapter's own retraining function: the
test and training mean diagonal at each budget and the gain per doubling say where the curve
flattens and how many training images that takes.

    nice -n 5 python tests/benchmarks/bench_budget.py --chapter semantic_ae --multiples 0.5 1 2 4
    nice -n 5 python tests/benchmarks/bench_budget.py --chapter dlp_dbm --multiples 0.5 1 2

Chapters: ``dlp_dbm`` (baseDCNN, softmax, on RAF-DB basic: mean diagonal), ``domain_adaptation``
(DBM-CNN pre-trained on RAF-ML: top-label accuracy on held-out RAF-ML faces, and SFEW accuracy of
its features, Table 6's protocol), ``sjmt`` (the single-task ResNet on SFEW, or with ``--method
sjmt`` the SJMT net on SFEW + EmotioNet, from the chapter's FER2013 trunk, trained once: accuracy on
SFEW Val) and ``semantic_ae`` (the two-branch net without the method, FL + BB, on AffectNet: mean
diagonal). Prints one line per budget as it finishes.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fercore.datasets import load  # noqa: E402
from fercore.experiments import dlp_dbm, domain_adaptation, semantic_ae, sjmt  # noqa: E402
from fercore.experiments.semantic_ae import load_affectnet  # noqa: E402
from fercore.multitask import MultiTaskNet  # noqa: E402
from fercore.parameters import chapter_parameters, notebook_parameters, notebook_path  # noqa: E402
from fercore.recipe import recipe_schedule, use_threads  # noqa: E402
from fercore.train import use_cpu_precision  # noqa: E402


def _scores(row):
    """The scores of a retrained run's learning-curve row (its end), as ``{metric: value}``."""
    return {k: float(v) for k, v in row.iloc[-1].items() if k not in ("step", "images", "model", "seed")}


def dlp_dbm_trainer(p):
    """``(train, iterations)``: ``train(iterations)`` → test and training mean diagonals of chapter
    05's baseDCNN (softmax, :func:`fercore.experiments.dlp_dbm.retrain_basedcnn`); the chapter's
    iterations."""
    sets = {s: load("rafdb", p["data_root"], subset="basic", split=s) for s in ("train", "test")}
    images = {f"basic_{s}": sets[s].images for s in sets}
    labels = {f"basic_{s}": sets[s].labels for s in sets}
    net = {k: p[k] for k in ("width", "input_size", "feature_dim", "batch_size", "flip", "device")}

    def train(iterations):
        schedule = recipe_schedule(iterations, p["lr"], drops=p["lr_drops"], warmup=p["warmup"], shape=p["lr_schedule"])
        return _scores(dlp_dbm.retrain_basedcnn(p["seed"], images=images, labels=labels, net=net, schedule=schedule))

    return train, p["iterations"]


def domain_adaptation_trainer(p):
    """``(train, iterations)``: ``train(iterations)`` → chapter 06's DBM-CNN source pre-training
    scored as its learning curve (top-label accuracy, SFEW target accuracy;
    :func:`fercore.experiments.domain_adaptation.retrain_source_net`); the chapter's pre-training
    iterations."""
    rafml, source, held_out = domain_adaptation.load_source(p["data_root"])
    sfew = domain_adaptation.load_targets(p["data_root"], ["sfew"])["sfew"]
    score = domain_adaptation.pretrain_evaluate(source["source_images"], source["source_labels"], held_out,
                                                rafml.labels[rafml.split != "train"], sfew, seed=p["seed"])
    source_net = {k: p[k] for k in ("lam", "k", "width", "input_size", "feature_dim", "batch_size", "flip", "device")}
    full = p["pretrain_iterations"]

    def train(iterations):
        schedule = recipe_schedule(iterations, p["pretrain_lr"], drops=[m / full for m in p["pretrain_milestones"]],
                                   warmup=p["warmup"], shape=p["lr_schedule"])
        return _scores(domain_adaptation.retrain_source_net(p["seed"], schedule=schedule, evaluate=score, **source,
                                                            **source_net))

    return train, full


def sjmt_trainer(p, method="single"):
    """``(train, iterations)``: ``train(iterations)`` → SFEW Val and training accuracy of chapter
    07's ``method`` net (``single``: SFEW alone; ``sjmt``: SFEW + EmotioNet; its first ResNet,
    :func:`fercore.experiments.sjmt.retrain`), started from the chapter's FER2013 trunk (trained
    here once, at the chapter's ``pretrain_iterations``); the chapter's iterations."""
    net = [n for n in p["nets"] if n.startswith("resnet")][0]
    tasks = sjmt.load_chapter_tasks(p["data_root"], input_size=p["input_size"], seed=p["seed"],
                                    emotionet_test=p["emotionet_test"], ckplus_test=p["ckplus_test"],
                                    compound_per_class=p["compound_per_class"])
    params = dict(width=p["width"], input_size=p["input_size"], pad=max(1, p["input_size"] // 8), flip=p["flip"],
                  batch_size=p["batch_size"], lr=p["lr"], decay_every=None, decay_rate=p["decay_rate"],
                  warmup=p["warmup"], lr_schedule=p["lr_schedule"], equal_exposure=p["equal_exposure"],
                  device=p["device"])
    trunk = MultiTaskNet("single", net, seed=p["seed"], **{**params, "iterations": p["pretrain_iterations"]})
    trunk = trunk.fit(tasks["fer2013"][0]).trunk_state_dict()

    def train(iterations):
        trained_on = [tasks["sfew"]] + ([tasks["emotionet"]] if method != "single" else [])
        return _scores(sjmt.retrain(p["seed"], net, method, trained_on, params, iterations=iterations, trunk=trunk))

    return train, p["iterations"]


def semantic_ae_trainer(p):
    """``(train, iterations)``: ``train(iterations)`` → validation ("test") and training mean
    diagonals of chapter 08's baseline (FL + BB,
    :func:`fercore.experiments.semantic_ae.retrain_baseline`); the chapter's iterations."""
    _, train_set, val = load_affectnet(p["data_root"], p["input_size"], p["align"])
    (X, y), (X_val, y_val) = train_set.arrays(), val.arrays()
    params = dict(gamma=p["focal_gamma"], batch_size=p["batch_size"], lr=p["lr"],
                  lr_milestones=tuple(p["lr_milestones"]), warmup=p["warmup"], lr_schedule=p["lr_schedule"],
                  pad=p["pad"], flip=p["flip"], input_size=p["input_size"], width=p["width"], device=p["device"])

    def train(iterations):
        return _scores(semantic_ae.retrain_baseline(1.0, p["seed"], X, y, X_val, y_val, iterations=iterations, **params))

    return train, p["iterations"]


TRAINERS = {"dlp_dbm": dlp_dbm_trainer, "domain_adaptation": domain_adaptation_trainer,
            "semantic_ae": semantic_ae_trainer, "sjmt": sjmt_trainer}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapter", choices=sorted(TRAINERS), required=True)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--multiples", type=float, nargs="+", default=[0.5, 1, 2, 4],
                        help="budgets as multiples of the profile's iterations")
    parser.add_argument("--data-root", help="default: the profile's")
    parser.add_argument("--method", choices=["single", "sjmt"], default="single",
                        help="sjmt chapter only: the net to retrain")
    args = parser.parse_args(argv)
    if args.method != "single" and args.chapter != "sjmt":
        parser.error("--method applies to --chapter sjmt only")
    repo = Path(__file__).resolve().parents[2]
    params = {**notebook_parameters(notebook_path(args.chapter, repo)),
              **chapter_parameters(args.chapter, args.profile, repo=repo)}
    if args.data_root:
        params["data_root"] = args.data_root
    threads, precision = use_threads(params["torch_threads"]), use_cpu_precision(params["cpu_precision"])
    train, chapter_iterations = (sjmt_trainer(params, args.method) if args.chapter == "sjmt"
                                 else TRAINERS[args.chapter](params))
    batch_size = params["batch_size"]
    print(f"{args.chapter}, profile {args.profile}: {chapter_iterations} iterations of batch {batch_size} "
          f"in the chapter; {threads} thread(s), {precision}; seed {params['seed']}", flush=True)
    previous = None, None
    for multiple in sorted(args.multiples):
        iterations = max(1, round(multiple * chapter_iterations))
        start = time.perf_counter()
        scores = train(iterations)
        seconds = time.perf_counter() - start
        gain = "" if previous[0] is None else f"  test {100 * (scores['test'] - previous[0]):+5.1f} points since ×{previous[1]:g}"
        print(f"  ×{multiple:<4g} {iterations:6d} iterations {iterations * batch_size:8d} images  "
              + "  ".join(f"{name} {100 * value:5.1f}" for name, value in scores.items())
              + f"{gain}  {seconds:5.0f} s  load {os.getloadavg()[0]:.1f}", flush=True)
        previous = scores["test"], multiple


if __name__ == "__main__":
    main()
