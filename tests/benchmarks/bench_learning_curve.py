"""Chapter 05's baseDCNN on RAF-DB basic under the shared recipe: the learning curve (softmax
mean diagonal on the test set and on the training set against training images seen), then its
deep features + SVM against HOG + SVM on the same split, per seed. Seeds train stacked in one
model (``fercore.batched``).

    nice -n 5 python tests/benchmarks/bench_learning_curve.py --data-root data/default \
        --iterations 3000 --seeds 3 --threads 1

Prints each curve point as it is reached (with the load average), the images/s, and the
deep-vs-HOG comparison; ``--out`` writes the curve as CSV.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fercore.batched import StackedBatches, StackedModels, StackedObjective  # noqa: E402
from fercore.classifiers import evaluate_split, make_classifier  # noqa: E402
from fercore.curves import curve_points, fit_with_curve  # noqa: E402
from fercore.datasets import load  # noqa: E402
from fercore.batches import RandomBatches  # noqa: E402
from fercore.deep import extract_features  # noqa: E402
from fercore.losses.objectives import FeatureObjective  # noqa: E402
from fercore.features import make_features  # noqa: E402
from fercore.metrics import mean_diagonal  # noqa: E402
from fercore.nets import BaseDCNN  # noqa: E402
from fercore.inputs import CropFlip, center_crops, crop_source  # noqa: E402
from fercore.recipe import recipe_schedule  # noqa: E402
from fercore.train import Trainer  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default="data/default")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--input-size", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--shape", choices=["step", "cosine"], default="cosine")
    parser.add_argument("--warmup", type=float, default=0.03)
    parser.add_argument("--drops", type=float, nargs="*", default=[0.75, 0.95])
    parser.add_argument("--points", type=int, default=7)
    parser.add_argument("--out", help="CSV of the curve")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train = load("rafdb", args.data_root, subset="basic", split="train")
    test = load("rafdb", args.data_root, subset="basic", split="test")
    x_train, x_test = crop_source(train.images, args.input_size), crop_source(test.images, args.input_size)
    y_train, y_test = torch.as_tensor(train.labels).long(), np.asarray(test.labels)
    probe = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:1500]
    test_crops = center_crops(x_test, args.input_size)
    train_crops = center_crops(x_train[probe], args.input_size)
    print(f"RAF-DB basic: {len(x_train)} train, {len(x_test)} test; {args.threads} thread(s)", flush=True)

    seeds = list(range(args.seeds))
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(BaseDCNN(7, width=args.width, input_size=args.input_size))
    stacked = StackedModels(models)
    schedule = recipe_schedule(args.iterations, args.lr, drops=args.drops if args.shape == "step" else (),
                               warmup=args.warmup, shape=args.shape)
    trainer = Trainer(stacked, StackedObjective(FeatureObjective("softmax", 7, 2000)), schedule,
                      param_groups=stacked.parameter_groups(models[0].parameter_groups()), device="cpu")
    batches = StackedBatches([RandomBatches(x_train, y_train, batch_size=args.batch_size, seed=s,
                                            transform=CropFlip(args.input_size)) for s in seeds])
    start = time.perf_counter()

    def evaluate(model):
        n = len(seeds)
        test_pred = model.run("forward", test_crops.expand(n, *test_crops.shape)).argmax(-1)
        train_pred = model.run("forward", train_crops.expand(n, *train_crops.shape)).argmax(-1)
        out = {}
        for i, seed in enumerate(seeds):
            out[f"test_{seed}"] = mean_diagonal(y_test, test_pred[i].numpy(), 7)
            out[f"train_{seed}"] = mean_diagonal(y_train[probe].numpy(), train_pred[i].numpy(), 7)
        print(f"  step {trainer.step:5d}  {trainer.step * args.batch_size:8d} images  "
              f"{time.perf_counter() - start:7.0f} s  load {os.getloadavg()[0]:.1f}  "
              + "  ".join(f"{k} {v:.3f}" for k, v in out.items()), flush=True)
        return out

    _, curve = fit_with_curve(trainer, batches, evaluate, curve_points(args.iterations, args.points),
                              images_per_step=args.batch_size * len(seeds))
    seconds = time.perf_counter() - start
    print(f"trained {len(seeds)} seed(s) × {args.iterations} steps in {seconds:.0f} s: "
          f"{len(seeds) * args.iterations * args.batch_size / seconds:.0f} img/s including evaluation", flush=True)
    if args.out:
        curve.to_csv(args.out, index=False)

    svm = make_classifier("svm", C_grid=[1.0, 10.0, 100.0], gamma_grid=[1.0], cv=2)
    for seed, net in zip(seeds, stacked.unstack()):
        f_train, f_test = extract_features(net, train.images), extract_features(net, test.images)
        deep = evaluate_split(svm, f_train, train.labels, f_test, test.labels, 7)["mean_diag"]
        print(f"seed {seed}: baseDCNN features + SVM mean diagonal {deep:.3f}", flush=True)
    hog = make_features("hog")
    hog_svm = evaluate_split(svm, hog.fit_transform(train.images), train.labels, hog.transform(test.images),
                             test.labels, 7)["mean_diag"]
    print(f"HOG + SVM mean diagonal {hog_svm:.3f}", flush=True)


if __name__ == "__main__":
    main()
