"""Deep features for the classical classifiers: the RAF input protocol, the training recipes of
baseDCNN, center loss, DLP-CNN (RAF-DB §4, §6), DBM-CNN (RAF-ML §4, §6.2) and DBM-DACNN
(RAF-ML §5, Algorithm 3) in one training function, and extraction.

Protocol: 100×100 aligned grayscale faces divided by 255, random square crops (90×90) in
training, the centre crop at test. A smaller ``input_size`` first resizes the faces so the crop
keeps the paper's 90 % of the face.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision
from torch.nn import functional as F

from fercore.batches import PairedBatches, RandomBatches
from fercore.classifiers import evaluate_split
from fercore.inputs import CropFlip, center_crops, crop_source
from fercore.losses.objectives import DomainAdaptationObjective, FeatureObjective
from fercore.multilabel import evaluate_multilabel
from fercore.nets import BaseDCNN
from fercore.progress import progress
from fercore.devices import resolve_device
from fercore.train import Schedule, Trainer

PAPER_SCHEDULE = Schedule(iterations=20_000, lr=0.01, momentum=0.9, milestones=(5_000, 18_000))
"""RAF-ML §6.2: SGD, lr 0.01 ÷ 10 at 5k and 18k iterations, stop at 20k (batch 64)."""


def train_feature_net(images, labels, objective, *, model=None, target_images=None, gamma=0.0, eta=0.0,
                      mmd=None, target_batch_size=None, label_vectors=None, num_classes=None, width=1.0,
                      input_size=90, feature_dim=2000, dropout=0.3, schedule=PAPER_SCHEDULE, batch_size=64,
                      lam=None, k=None, variant="both", seed=0, device="auto",
                      checkpoint=None, checkpoint_every=0, desc=None, flip=False, curve=None, keep=None):
    """Train a :class:`fercore.nets.BaseDCNN` with one of :data:`OBJECTIVES`, on one domain or,
    with ``target_images``, by RAF-ML's Algorithm 3 (DBM-DACNN).

    ``images``: uint8 faces (n, 100, 100). ``labels``: int classes (n,), or label vectors
    (n, C) for the multi-label objectives. ``label_vectors``: optional (n, C) label-manifold
    coordinates for dbm (RAF-ML's emotion distributions). ``model``: a net to continue training
    (pre-trained, or with a new head); without one a fresh net is built from ``width``,
    ``input_size``, ``feature_dim``, ``dropout`` and ``num_classes`` (default C or the largest
    label + 1). Weight decay per RAF-ML §6.2 (5e-4 on the convolutions and the first FC layer,
    2.5e-3 on the last). Training inputs are random crops (:func:`fercore.inputs.crop_flip`),
    mirrored at random when ``flip``.

    Domain adaptation: ``gamma`` > 0 or ``eta`` > 0 adds γ·MK-MMD between the source and target
    embeddings and η·entropy of the target predictions
    (:class:`fercore.losses.objectives.DomainAdaptationObjective`, ``mmd`` its kernel loss) on
    unlabelled ``target_images`` batches of ``target_batch_size`` faces (default
    ``batch_size``), drawn beside the source batches (:class:`fercore.batches.PairedBatches`);
    with γ = η = 0 the target is not used.

    ``curve``: a :class:`fercore.curves.LearningCurve` recorded during the run.
    ``checkpoint``/``checkpoint_every`` and ``keep`` (the model store entry,
    :func:`fercore.models.keep_spec`) as in :class:`fercore.train.Trainer`. Returns
    ``(model, history)``, the model in eval mode on ``device``.
    """
    device = resolve_device(device)
    if gamma < 0 or eta < 0:
        raise ValueError(f"gamma and eta must be non-negative, got gamma={gamma}, eta={eta}")
    adapting = gamma > 0 or eta > 0
    if adapting and target_images is None:
        raise ValueError("gamma or eta is positive: pass target_images")
    labels = _labels_for(objective, labels, num_classes if model is None else model.num_classes)
    if model is None:
        if num_classes is None:
            num_classes = labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1
        torch.manual_seed(seed)
        model = BaseDCNN(num_classes, width=width, input_size=input_size, feature_dim=feature_dim,
                         dropout=dropout)
    tensors = [crop_source(images, model.input_size).to(device), labels.to(device)]
    if label_vectors is not None:
        tensors.append(torch.as_tensor(np.asarray(label_vectors), dtype=torch.float32).to(device))
    crop = CropFlip(model.input_size, flip)
    batches = RandomBatches(*tensors, batch_size=batch_size, seed=seed, transform=crop)
    weights = dict(num_classes=model.num_classes, feature_dim=model.feature_dim, lam=lam, k=k, variant=variant)
    if adapting:
        loss_fn = DomainAdaptationObjective(gamma, eta, objective=objective, mmd=mmd, **weights)
        target = RandomBatches(crop_source(target_images, model.input_size).to(device),
                               batch_size=min(target_batch_size or batch_size, len(target_images)),
                               seed=seed + 1, transform=crop)
        batches = PairedBatches(batches, target)
    else:
        loss_fn = FeatureObjective(objective, **weights)
    trainer = Trainer(model, loss_fn, schedule, param_groups=model.parameter_groups(),
                      device=device, seed=seed, checkpoint=checkpoint,
                      checkpoint_every=checkpoint_every,
                      desc=desc or ("DBM-DACNN" if adapting else objective), keep=keep)
    if curve is None:
        return trainer.model, trainer.fit(batches)
    return trainer.model, curve.fit(trainer, batches, images_per_step=batch_size)


def _labels_for(objective, labels, num_classes=None):
    """``labels`` as the tensor ``objective`` trains on: float (n, C) label vectors for soft_ce
    and dbm, int (n,) classes for the others; checked against a given net's ``num_classes``."""
    labels = torch.as_tensor(np.asarray(labels))
    multilabel = objective in ("soft_ce", "dbm")
    if multilabel != (labels.ndim == 2):
        wanted = "(n, C) label vectors" if multilabel else "(n,) class labels"
        raise ValueError(f"objective {objective!r} needs {wanted}, got labels of shape "
                         f"{tuple(labels.shape)}")
    if num_classes is not None:
        outside = labels.shape[1] != num_classes if multilabel else bool((labels >= num_classes).any())
        if outside:
            raise ValueError(f"labels do not fit the model's {num_classes} classes "
                             f"(labels of shape {tuple(labels.shape)})")
    return labels.float() if multilabel else labels.long()


def train_and_extract(images, labels, objective, extract, **kwargs):
    """:func:`train_feature_net`, then the deep features of each image set in ``extract``
    (name → uint8 faces). Returns ``({name: features}, history)``."""
    model, history = train_feature_net(images, labels, objective, **kwargs)
    return {name: extract_features(model, faces) for name, faces in extract.items()}, history


@torch.no_grad()
def extract_features(model, images, *, batch_size=256, device=None):
    """The deep features of uint8 faces (n, 100, 100) at the centre crop, as float32 (n, d)."""
    device = next(model.parameters()).device if device is None else resolve_device(device)
    was_training = model.training
    model.eval().to(device)
    x = crop_source(images, model.input_size)
    out = []
    for start in progress(range(0, len(x), batch_size), desc="features"):
        crops = center_crops(x[start:start + batch_size].to(device), model.input_size)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(model.features(crops).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.feature_dim), np.float32)


PRETRAINED = {"alexnet": "alexnet", "vgg16": "vgg16"}
"""torchvision architectures usable for RAF-DB/RAF-ML's pre-trained feature rows."""


@torch.no_grad()
def pretrained_features(arch, weights_path, images, *, batch_size=64, device="auto"):
    """fc7 (penultimate, 4,096-d) features of an ImageNet network for uint8 faces (n, H, W).

    ``weights_path`` is a torchvision state dict on disk (nothing is downloaded); faces are
    resized to 224×224, replicated to three channels and normalized with ImageNet statistics.
    """
    if arch not in PRETRAINED:
        raise ValueError(f"arch must be one of {tuple(PRETRAINED)}, got {arch!r}")
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ImageNet weights for {arch} not found")
    device = resolve_device(device)
    net = getattr(torchvision.models, PRETRAINED[arch])(weights=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.classifier = net.classifier[:-1]  # drop the 1,000-way layer: fc7 + ReLU (+ dropout, off)
    net.eval().to(device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    images = torch.as_tensor(np.asarray(images))
    out = []
    for start in progress(range(0, len(images), batch_size), desc=arch):
        x = images[start:start + batch_size].to(device).unsqueeze(1).float() / 255
        x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        out.append(net((x.expand(-1, 3, -1, -1) - mean) / std).float().cpu())
    return torch.cat(out).numpy()


def single_label_scores(train_features, train_labels, test_features, test_labels, class_names,
                        classifiers):
    """Fit each of ``classifiers`` (name → estimator) on deep features and score the test set.

    Returns a long DataFrame (classifier, metric, value): ``mean_diag`` (RAF-DB's mean diagonal
    of the confusion matrix) and the accuracy of each class in ``class_names``, as fractions.
    """
    rows = []
    for name, estimator in classifiers.items():
        scores = evaluate_split(estimator, train_features, train_labels, test_features,
                                test_labels, len(class_names))
        rows.append({"classifier": name, "metric": "mean_diag", "value": scores["mean_diag"]})
        rows += [{"classifier": name, "metric": c, "value": v}
                 for c, v in zip(class_names, scores["per_class"])]
    return pd.DataFrame(rows)


def multilabel_scores(train_features, train_labels, test_features, test_labels, classifiers):
    """The nine RAF-ML criteria of each multi-label classifier (name → estimator) on deep
    features, as a long DataFrame (classifier, metric, value)."""
    rows = []
    for name, estimator in classifiers.items():
        report = evaluate_multilabel(estimator, train_features, train_labels, test_features,
                                     test_labels)
        rows += [{"classifier": name, "metric": m, "value": v} for m, v in report.items()]
    return pd.DataFrame(rows)
