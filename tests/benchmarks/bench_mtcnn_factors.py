"""Which wild nuisance factors move MTCNN's landmarks away from the generator's.

Renders wild faces as the world writes them (colour originals) and again with one factor group
of :data:`fercore.synth.realism.LAB_FACTORS` drawn as in the lab (same identities, AUs and
every other factor), then each field of the pose group alone (yaw, pitch, roll, gaze), then all
the groups together, and prints MTCNN's detection rate, mean and
median landmark distance (inter-ocular distances) and the nose tip's sideways drift per 10° of
yaw (:func:`fercore.synth.realism.turn_drift`), averaged over ``--seeds``. Needs facenet-pytorch.

    python tests/benchmarks/bench_mtcnn_factors.py [--faces 140] [--seeds 5 6]
"""

import argparse

import numpy as np

from fercore.synth.realism import LAB_FACTORS, mtcnn_agreement


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=140, help="faces per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6])
    args = parser.parse_args()
    settings = ([()] + [(factor,) for factor in LAB_FACTORS] + [(field,) for field in LAB_FACTORS["pose"]]
                + [tuple(LAB_FACTORS)])
    print(f"wild faces, {args.faces} per seed, seeds {args.seeds}")
    print(f"{'drawn as in the lab':<56} {'detected':>8} {'mean':>6} {'median':>6} {'nose/10°':>8}")
    for factors in settings:
        runs = [mtcnn_agreement("wild", n=args.faces, seed=seed, lab_factors=factors) for seed in args.seeds]
        detected, error, median = (np.mean([r[k] for r in runs]) for k in ("detected", "error", "median"))
        drift = np.mean([r["turn_drift"][2] for r in runs])
        print(f"{' + '.join(factors) or 'nothing (the world as written)':<56} {100 * detected:7.1f}% "
              f"{error:6.3f} {median:6.3f} {drift:+8.3f}")


if __name__ == "__main__":
    main()
