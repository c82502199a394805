"""DBM-DACNN: deep bi-manifold features adapted to other expression datasets (RAF-ML §5, §6.5).

Algorithm 3 trains the network on labelled multi-label source batches (RAF-ML: soft
cross-entropy + bi-manifold loss) and unlabelled target batches at once, with the multi-kernel
MMD between the two batches' 2,000-d embeddings and, when the target is single-label (M2S), the
entropy of the target predictions:

    M2M:  L = L_c + λ L_bm + γ L_mmd          M2S:  L = L_c + λ L_bm + γ L_mmd + η L_e

The objective is :class:`fercore.losses.objectives.DomainAdaptationObjective`, the training
:func:`fercore.deep.train_feature_net` (given the target faces); this module adds the stages of
§6.5 (pre-training, the source-only and adapted nets of each target, fine-tuning on a target's
labels) and the pieces of its protocols (JAFFE label sets, a target head, the MMD between
datasets); the chapter's targets, runs and tables are in
:mod:`fercore.experiments.domain_adaptation`.
"""

import copy

import numpy as np
import torch
from torch import nn

from fercore.deep import train_feature_net
from fercore.losses import mk_mmd
from fercore.nets import BaseDCNN

MODELS = {"basedcnn": "baseDCNN", "dbm_cnn": "DBM-CNN", "dbm_dacnn": "DBM-DACNN",
          "dbm_dacnn_entropy": "DBM-DACNN + entropy"}
"""Model ids (used in results keys) and their names in the paper's tables."""

SETTINGS = ("m2m", "m2s")
"""Multi-label → multi-label (JAFFE) and multi-label → single-label (CK+, MMI, SFEW) transfer."""

JAFFE_THRESHOLD = 3.0
"""RAF-ML §6.5.1: an emotion is relevant when its mean 1–5 rating reaches 3."""


def jaffe_label_sets(ratings, threshold=JAFFE_THRESHOLD):
    """Binary label sets from JAFFE's (n, 6) ratings and the mask of images to keep.

    An emotion is relevant when its rating is ≥ ``threshold``; images with every rating below
    it are dropped (RAF-ML §6.5.1 kept 188 of the 213 images). Returns ``(labels, keep)``:
    float32 (n, 6) 0/1 labels of all images and a boolean (n,) mask.
    """
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.ndim != 2:
        raise ValueError(f"ratings must be (n, emotions), got shape {ratings.shape}")
    if np.isnan(ratings).any():
        raise ValueError("ratings contain NaN")
    labels = (ratings >= threshold).astype(np.float32)
    return labels, labels.any(axis=1)


def replace_head(model, num_classes, seed=0):
    """Give ``model`` a fresh last FC layer with ``num_classes`` outputs (MSRA init, zero bias),
    for fine-tuning on a target's own labels (RAF-ML §6.5.4, SFEW in parentheses). In place."""
    generator = torch.Generator().manual_seed(seed)
    head = nn.Linear(model.feature_dim, num_classes)
    with torch.no_grad():
        std = (2.0 / model.feature_dim) ** 0.5
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * std)
        head.bias.zero_()
    device = next(model.parameters()).device
    model.classifier = head.to(device)
    model.num_classes = num_classes
    return model


def domain_mmd(source_features, target_features, *, max_samples=1000, seed=0):
    """Squared MK-MMD (Eq. 12, unbiased, default kernels) between two feature sets, in float64.

    Sets larger than ``max_samples`` are subsampled without replacement (seeded). The batch
    bandwidth makes the value independent of the features' scale, so it compares networks.
    """
    rng = np.random.default_rng(seed)

    def sample(x):
        x = np.asarray(x, dtype=np.float64)
        return x[np.sort(rng.choice(len(x), max_samples, replace=False))] if len(x) > max_samples else x

    return float(mk_mmd(torch.from_numpy(sample(source_features)), torch.from_numpy(sample(target_features))))


def _per_target(value, target):
    return value[target] if isinstance(value, dict) else value


def pretrain_source_nets(source_images, source_labels, *, source_vectors=None, pretrain, lam=None, k=None,
                         width=1.0, input_size=90, feature_dim=2000, dropout=0.3, batch_size=64, basedcnn=True,
                         flip=False, curves=None, seed=0, device="auto"):
    """Stage 1 of :func:`train_transfer_nets`: DBM-CNN (and, if ``basedcnn``, baseDCNN: soft
    cross-entropy only) trained on the source for ``pretrain`` (a :class:`fercore.train.Schedule`)
    with :func:`fercore.deep.train_feature_net`, crops mirrored at random when ``flip``;
    ``pretrain=None`` gives fresh networks (one seed, so every model starts from the same
    weights). ``curves``: ``{model_id: fercore.curves.LearningCurve}`` recorded during the
    pre-training of those nets. Returns ``({model_id: net}, {model_id: history})``.
    """
    net_args = dict(width=width, input_size=input_size, feature_dim=feature_dim, dropout=dropout)
    objectives = {"dbm_cnn": "dbm", **({"basedcnn": "soft_ce"} if basedcnn else {})}
    nets, histories = {}, {}
    for model_id, objective in objectives.items():
        if pretrain is None:
            torch.manual_seed(seed)
            nets[model_id] = BaseDCNN(np.shape(source_labels)[1], **net_args)
            continue
        nets[model_id], histories[model_id] = train_feature_net(
            source_images, source_labels, objective, label_vectors=source_vectors if objective == "dbm" else None,
            schedule=pretrain, batch_size=batch_size, lam=lam, k=k, flip=flip, seed=seed, device=device,
            curve=(curves or {}).get(model_id), desc=f"{MODELS[model_id]} (pre-training)", **net_args)
    return nets, histories


def train_transfer_nets(source_images, source_labels, targets, *, source_vectors=None, gamma=1.0, eta=0.1,
                        pretrain=None, pretrained=None, adapt, lam=None, k=None, width=1.0, input_size=90,
                        feature_dim=2000, dropout=0.3, batch_size=64, target_batch_size=None, basedcnn=True,
                        flip=False, seed=0, device="auto", curves=None):
    """Train every network of RAF-ML §6.5 for one seed; returns ``(nets, histories)``.

    ``targets`` maps a target name to ``(images, setting)``, setting ``"m2m"`` or ``"m2s"``.
    Stage 1 is :func:`pretrain_source_nets` (skipped when ``pretrained``, its first result, is
    given). Stage 2 continues from there for ``adapt``: the source-only models with their own
    objective (so every model sees the same number of iterations), DBM-DACNN per target with
    γ·L_mmd, and, for M2S targets, DBM-DACNN with γ·L_mmd + η·L_e. ``gamma`` and ``eta`` are
    numbers or ``{target: value}`` (tuned per target). Every stage-2 run draws the same source
    batches (one seed), so the models differ only by their objective; ``flip`` mirrors the crops
    of every stage at random.

    ``nets[target][model_id]`` (ids from :data:`MODELS`; the source-only nets are shared by all
    targets) and ``histories[(stage, model_id)]`` with stage ``"pretrain"``, ``"source"`` or the
    target's name: the per-step loss terms. ``curves``: ``{(stage, model_id):
    fercore.curves.LearningCurve}`` recorded during the stage-2 runs they name.
    """
    unknown = {name: setting for name, (_, setting) in targets.items() if setting not in SETTINGS}
    if unknown:
        raise ValueError(f"target settings must be one of {SETTINGS}, got {unknown}")
    histories = {}
    if pretrained is None:
        pretrained, stage1 = pretrain_source_nets(
            source_images, source_labels, source_vectors=source_vectors, pretrain=pretrain, lam=lam, k=k,
            width=width, input_size=input_size, feature_dim=feature_dim, dropout=dropout, batch_size=batch_size,
            basedcnn=basedcnn, flip=flip, seed=seed, device=device)
        histories.update({("pretrain", m): h for m, h in stage1.items()})
    common = dict(schedule=adapt, lam=lam, k=k, batch_size=batch_size, flip=flip, seed=seed, device=device)
    curves = curves or {}
    source_only = {}
    for model_id, net in pretrained.items():
        objective = "dbm" if model_id == "dbm_cnn" else "soft_ce"
        source_only[model_id], histories[("source", model_id)] = train_feature_net(
            source_images, source_labels, objective, model=copy.deepcopy(net),
            label_vectors=source_vectors if objective == "dbm" else None, desc=MODELS[model_id],
            curve=curves.get(("source", model_id)), **common)
    nets = {}
    for target, (images, setting) in targets.items():
        nets[target] = {m: net for m, net in source_only.items() if setting == "m2m" or m == "dbm_cnn"}
        variants = {"dbm_dacnn": 0.0}
        if setting == "m2s":
            variants["dbm_dacnn_entropy"] = _per_target(eta, target)
        for model_id, eta_value in variants.items():
            nets[target][model_id], histories[(target, model_id)] = adapt_to_target(
                pretrained["dbm_cnn"], source_images, source_labels, images, source_vectors=source_vectors,
                gamma=_per_target(gamma, target), eta=eta_value, target_batch_size=target_batch_size,
                desc=f"{MODELS[model_id]} → {target}", curve=curves.get((target, model_id)), **common)
    return nets, histories


def adapt_to_target(pretrained, source_images, source_labels, target_images, *, source_vectors=None, gamma, eta,
                    schedule, desc=None, **kwargs):
    """DBM-DACNN for one target: a copy of the pre-trained DBM-CNN trained by Algorithm 3
    (:func:`fercore.deep.train_feature_net` with the ``dbm`` source objective and the target's
    faces; ``kwargs`` its other options). Returns ``(net, history)``."""
    return train_feature_net(source_images, source_labels, "dbm", model=copy.deepcopy(pretrained),
                             target_images=target_images, gamma=gamma, eta=eta, label_vectors=source_vectors,
                             schedule=schedule,
                             desc=desc or f"DBM-DACNN (γ={gamma:g}, η={eta:g})", **kwargs)


def fine_tune(net, images, labels, num_classes, *, schedule, batch_size=64, flip=False, seed=0, device="auto"):
    """A copy of ``net`` fine-tuned on a target's own labelled images (RAF-ML §6.5.4, SFEW's
    training set): a fresh ``num_classes``-way last layer, softmax cross-entropy on int
    ``labels``, crops mirrored at random when ``flip``. Returns ``(net, history)``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be class indices in [0, {num_classes}), got shape {labels.shape}")
    one_hot = np.eye(num_classes, dtype=np.float32)[labels]
    model = replace_head(copy.deepcopy(net), num_classes, seed=seed)
    return train_feature_net(images, one_hot, "soft_ce", model=model, schedule=schedule,
                             batch_size=min(batch_size, len(labels)), flip=flip, seed=seed, device=device,
                             desc="fine-tuning")
