"""Time fercore's GLAD-EM (and, on request, crowd-kit's) on one simulated RAF-like vote table.

    python tests/benchmarks/bench_glad.py                       # ours, 30,000 images × 40 votes
    python tests/benchmarks/bench_glad.py --n-tasks 3000 --with-crowdkit

Target: ours ≤ 15 s at 30,000 × 40 on the 2-core machine (goal ≤ 5 s); crowd-kit 1.4.2 needs
about 400 s there.
"""

import argparse
import time
import warnings

import numpy as np
from scipy.stats import spearmanr

from fercore.crowd import GLAD, DawidSkene, MajorityVote
from fercore.synth.crowd import simulate_annotators, simulate_perceived, simulate_votes


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-tasks", type=int, default=30_000)
    parser.add_argument("--votes", type=int, default=40, help="votes per image")
    parser.add_argument("--workers", type=int, default=315)
    parser.add_argument("--spammer-fraction", type=float, default=0.1)
    parser.add_argument("--with-crowdkit", action="store_true", help="also time crowd-kit's GLAD (slow)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    perceived = simulate_perceived(args.n_tasks, rng=rng)
    annotators = simulate_annotators(args.workers, args.spammer_fraction, rng=rng)
    votes, seconds = timed(lambda: simulate_votes(perceived.distribution, annotators, args.votes, perceived.difficulty, rng=rng))
    truth = perceived.label
    print(f"table: {args.n_tasks:,} images × {args.votes} votes = {len(votes):,} votes, {args.workers} workers "
          f"(simulated in {seconds:.2f} s)")

    results = {}
    for name, model in [
        ("fercore GLAD init=paper", GLAD(init="paper")),
        ("fercore GLAD init=crowdkit", GLAD(init="crowdkit")),
        ("fercore DawidSkene", DawidSkene()),
        ("fercore MajorityVote", MajorityVote()),
    ]:
        fitted, seconds = timed(lambda: model.fit(votes))
        results[name] = fitted
        accuracy = (fitted.labels_.to_numpy() == truth).mean()
        iterations = f", {fitted.n_iter_} iterations" if hasattr(fitted, "n_iter_") else ""
        print(f"{name:28s} {seconds:8.2f} s   label accuracy {accuracy:.4f}{iterations}")

    if args.with_crowdkit:
        from crowdkit.aggregation import GLAD as CrowdKitGLAD

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs, seconds = timed(lambda: CrowdKitGLAD().fit(votes))
        ours = results["fercore GLAD init=crowdkit"]
        accuracy = (theirs.labels_.reindex(ours.labels_.index).to_numpy() == truth).mean()
        print(f"{'crowd-kit GLAD':28s} {seconds:8.2f} s   label accuracy {accuracy:.4f}, "
              f"{len(theirs.loss_history_)} iterations")
        rho = spearmanr(ours.alphas_, theirs.alphas_.reindex(ours.alphas_.index)).statistic
        agree = (ours.labels_ == theirs.labels_.reindex(ours.labels_.index)).mean()
        print(f"fercore (init=crowdkit) vs crowd-kit: Spearman of alpha {rho:.4f}, label agreement {agree:.4f}")


if __name__ == "__main__":
    main()
