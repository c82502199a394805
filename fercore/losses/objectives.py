"""Objectives: the training loss of each method, combining the losses of this package.

An objective is an ``nn.Module`` called by :class:`fercore.train.Trainer` as
``objective(model, batch)`` and returning a dict of named scalar tensors, ``"loss"`` the one
minimized. Each one reads the batch its method's stream (:mod:`fercore.batches`) yields.
"""

import math

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from fercore.inputs import as_float
from fercore.losses.bimanifold import BiManifoldLoss
from fercore.losses.center import CenterLoss
from fercore.losses.entropy import EntropyLoss
from fercore.losses.locality import LocalityPreservingLoss
from fercore.losses.mmd import MKMMDLoss
from fercore.losses.selective import SelectiveSigmoidCrossEntropy
from fercore.losses.semantic import (
    MultiScaleReconstructionLoss,
    NeighbourhoodAwareLoss,
    WassersteinCriticLoss,
    WassersteinGeneratorLoss,
    symmetric_kl,
)
from fercore.losses.soft_ce import SoftCrossEntropy

OBJECTIVES = ("softmax", "center", "dlp", "soft_ce", "dbm")
"""softmax (baseDCNN on single labels), center (+ center loss), dlp (+ locality-preserving loss),
soft_ce (baseDCNN on multi-label vectors), dbm (+ bi-manifold loss)."""


DEFAULT_WEIGHTS = {"center": {"lam": 0.003}, "dlp": {"lam": 0.003, "k": 20},
                   "dbm": {"lam": 0.01, "k": 10}}
"""λ and k when not given: center loss as Wen et al.'s λ; DLP as the public reimplementation
(the paper tuned them by cross-validation and does not print them); DBM as RAF-ML §6.3.1."""


class FeatureObjective(nn.Module):
    """The loss closure of the five recipes, for :class:`fercore.train.Trainer`.

    Batches are ``(images, labels)`` — labels int classes for softmax/center/dlp, label vectors
    (n, C) for soft_ce/dbm — or ``(images, labels, label_vectors)`` for dbm, whose label
    manifold then uses ``label_vectors`` (RAF-ML's emotion distributions) instead of the labels.
    Returns ``loss`` = classification term + λ · locality term, and each term.
    """

    def __init__(self, objective, num_classes=7, feature_dim=2000, lam=None, k=None,
                 variant="both"):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        defaults = DEFAULT_WEIGHTS.get(objective, {})
        self.objective = objective
        self.lam = defaults.get("lam", 0.0) if lam is None else lam
        self.k = defaults.get("k") if k is None else k
        self.classification = SoftCrossEntropy() if objective in ("soft_ce", "dbm") else None
        self.locality = None
        if objective == "center":
            self.locality = CenterLoss(num_classes, feature_dim)
        elif objective == "dlp":
            self.locality = LocalityPreservingLoss(k=self.k)
        elif objective == "dbm":
            self.locality = BiManifoldLoss(k=self.k, variant=variant)

    def forward(self, model, batch):
        images, labels, *extra = batch
        logits, features = model.forward_features(images)
        if self.classification is None:
            ce = F.cross_entropy(logits.float(), labels)
        else:
            ce = self.classification(logits, labels)
        if self.locality is None:
            return {"loss": ce, "ce": ce}
        if self.objective == "dbm":
            local = self.locality(features, extra[0] if extra else labels)
        else:
            local = self.locality(features, labels)
        return {"loss": ce + self.lam * local, "ce": ce, "locality": local}


class _Outputs:
    """Stands in for the model inside :class:`FeatureObjective`: returns outputs already computed
    for the source part of a joint source + target forward pass."""

    def __init__(self, logits, features):
        self.logits, self.features = logits, features

    def forward_features(self, images):
        return self.logits, self.features


class DomainAdaptationObjective(nn.Module):
    """The joint loss of Algorithm 3, as a ``loss_fn`` for :class:`fercore.train.Trainer`.

    Batches are ``((source_images, source_labels[, label_vectors]), (target_images,) or None)``.
    Source and target images go through the network in one pass (baseDCNN has no batch
    normalization, so this equals two passes); the source half gets ``FeatureObjective(objective)``
    (``"dbm"``: L_c + λ L_bm, Eq. 8; ``"soft_ce"``: L_c only), then

        loss = source terms + γ · MK-MMD(source embeddings, target embeddings) + η · L_e(target logits).

    ``gamma = eta = 0`` skips the target batch: plain DBM-CNN training. ``mmd`` is the
    :class:`fercore.losses.MKMMDLoss` used (default: five Gaussian kernels, quadratic estimator).
    Logged terms: ``loss``, ``ce``, ``locality`` (dbm), ``mmd`` and ``entropy`` (when a target is used).
    """

    def __init__(self, gamma=1.0, eta=0.0, *, objective="dbm", num_classes=6, feature_dim=2000,
                 lam=None, k=None, variant="both", mmd=None):
        super().__init__()
        if gamma < 0 or eta < 0:
            raise ValueError(f"gamma and eta must be non-negative, got gamma={gamma}, eta={eta}")
        self.gamma, self.eta = float(gamma), float(eta)
        self.source_objective = FeatureObjective(objective, num_classes, feature_dim, lam=lam, k=k,
                                                 variant=variant)
        self.mmd = MKMMDLoss() if mmd is None else mmd
        self.entropy = EntropyLoss()

    @property
    def uses_target(self):
        return self.gamma > 0 or self.eta > 0

    def forward(self, model, batch):
        source, target = batch
        if not self.uses_target:
            return self.source_objective(model, source)
        if target is None:
            raise ValueError("gamma or eta is positive but the batch has no target images")
        n = len(source[0])
        logits, features = model.forward_features(torch.cat([source[0], target[0]]))
        terms = self.source_objective(_Outputs(logits[:n], features[:n]), source)
        mmd = self.mmd(features[:n], features[n:])
        entropy = self.entropy(logits[n:])
        terms["loss"] = terms["loss"] + self.gamma * mmd + self.eta * entropy
        terms.update(mmd=mmd, entropy=entropy)
        return terms


class HeadObjective(nn.Module):
    """Loss of ``single`` and ``multitask`` training on the batch's head: softmax cross-entropy for
    a single-label task; for a multi-label one, sigmoid cross-entropy summed over the (coded)
    classes and averaged over the batch — Eq. 1 with one label space.

    The other heads join the graph with weight zero, so each step gives them a zero gradient
    rather than none: their momentum and weight decay act every step, on the CPU as under the
    fused CUDA SGD (which rejects parameters whose gradient appears only from a later step on).
    """

    def __init__(self, sizes):
        super().__init__()
        self.multilabel = nn.ModuleDict({
            head: SelectiveSigmoidCrossEntropy(torch.ones(1, size, dtype=torch.bool), ignore_nan=True)
            for head, size in sizes.items() if size})

    def forward(self, model, batch):
        head, targets = batch["head"], batch["targets"]
        logits = model(batch["images"], head)
        if head in self.multilabel:
            dataset = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
            loss = self.multilabel[head](logits, targets, dataset)
        else:
            loss = F.cross_entropy(logits, targets)
        idle = [p.sum() for name, layer in model.heads.items() if name != head for p in layer.parameters()]
        if idle:
            loss = loss + 0.0 * torch.stack(idle).sum()
        return {"loss": loss}


class SelectiveObjective(nn.Module):
    """Loss of SJMT training: Eq. 1 over the shared head's union of labels."""

    def __init__(self, label_spaces, num_outputs, head="joint"):
        super().__init__()
        self.criterion = SelectiveSigmoidCrossEntropy(label_spaces, num_outputs, ignore_nan=True)
        self.head = head

    def forward(self, model, batch):
        logits = model(batch["images"], self.head)
        return {"loss": self.criterion(logits, batch["targets"], batch["dataset"])}


class AutoencoderObjective(nn.Module):
    """Pre-training loss: Loss_AE of Eq. 4 on a batch ``(images,)`` of uint8 faces."""

    def __init__(self, weights=(4.0, 1.0, 1.0, 1.0, 1.0)):
        super().__init__()
        self.reconstruction = MultiScaleReconstructionLoss(weights)

    def forward(self, model, batch):
        _, maps, targets = model.reconstruct(as_float(batch[0]))
        return {"loss": self.reconstruction(maps, targets)}


class PixelLoss(nn.Module):
    """‖Ĩ − I‖², the pixel term of Eq. 5 alone (a mean over the values)."""

    def forward(self, reconstruction, target):
        return F.mse_loss(reconstruction.float(), target.float())


class RefinementObjective(nn.Module):
    """Loss_G = λ_AE Loss_AE + λ_Adv Loss_Adv^G + λ_Rec Loss_Rec — Fu et al. Eq. 8, with the
    critic's loss Loss_Adv^D of Eq. 6. λ_AE is multiplied by 0.1 every ``lambda_ae_every`` steps."""

    def __init__(self, reconstruction, lambda_ae=1e-3, lambda_ae_every=1, lambda_adv=5.0,
                 lambda_rec=1.0, ae_weights=(4.0, 1.0, 1.0, 1.0, 1.0)):
        super().__init__()
        self.reconstruction = reconstruction
        self.multiscale = MultiScaleReconstructionLoss(ae_weights)
        self.generator_loss = WassersteinGeneratorLoss()
        self.critic_loss = WassersteinCriticLoss()
        self.lambda_ae, self.lambda_ae_every = lambda_ae, max(1, lambda_ae_every)
        self.lambda_adv, self.lambda_rec = lambda_adv, lambda_rec

    def critic_step_loss(self, pair, real):
        with torch.no_grad():
            fake = pair.autoencoder(real)
        return self.critic_loss(pair.critic(fake), pair.critic(real))

    def forward(self, pair, real, step):
        fake, maps, targets = pair.autoencoder.reconstruct(real)
        ae = self.multiscale(maps, targets)
        adv = self.generator_loss(pair.critic(fake))
        rec = self.reconstruction(fake, real)
        lam_ae = self.lambda_ae * 0.1 ** (step // self.lambda_ae_every)
        loss = lam_ae * ae + self.lambda_adv * adv + self.lambda_rec * rec
        return {"loss": loss, "ae": ae, "adv": adv, "rec": rec}


class NeighbourhoodAwareObjective(nn.Module):
    """The training loss of the two-branch network on a batch ``(images, labels, index)``.

    The per-sample loss is the sum of the criterion over the fused, Ori and Half predictions
    (§IV-B). With a neighbour generator and a threshold (Algorithm 1) each face's neighbour is
    synthesized, the divergence Div(P, P^tr) (Eq. 13) is taken between the network's predictions
    for the face and for its neighbour — both in evaluation mode, i.e. the function F with the
    current weights W^t — and samples with Div ≥ T get no gradient (Eq. 11, T fixed or the batch
    mean, Eq. 14). The first ``mask_start`` steps train without the mask (0 in the paper, which
    masks from the first step). Each masked step's number, index, divergences and mask are kept
    (``mask_log()``) and checkpointed with the objective.
    """

    def __init__(self, criterion, neighbours=None, threshold=None, mask_start=0):
        super().__init__()
        if (neighbours is None) != (threshold is None):
            raise ValueError("give both a neighbour generator and a threshold, or neither")
        if mask_start < 0:
            raise ValueError(f"mask_start must be a non-negative number of steps, got {mask_start}")
        self.criterion = criterion
        self.neighbours = neighbours
        self.masked_loss = None if threshold is None else NeighbourhoodAwareLoss(threshold)
        self.mask_start = mask_start
        self.steps = 0
        self.records = []

    def forward(self, model, batch):
        images, labels, index = batch
        x = as_float(images)
        per_sample = sum(self.criterion(logits, labels) for logits in model.forward_all(x))
        step, self.steps = self.steps, self.steps + 1
        if self.masked_loss is None:
            return {"loss": per_sample.mean()}
        if step < self.mask_start:
            return {"loss": per_sample.mean(), "masked_fraction": torch.zeros_like(per_sample[0]),
                    "threshold": torch.full_like(per_sample[0], math.inf)}
        was_training = model.training
        with torch.no_grad():
            neighbour = self.neighbours(x)
            model.eval()
            divergence = symmetric_kl(model(x), model(neighbour))
        model.train(was_training)
        loss, mask, threshold = self.masked_loss(per_sample, divergence)
        self.records.append((torch.tensor(step), index.detach(), divergence.detach(), mask.detach(),
                             threshold.detach()))
        return {"loss": loss, "masked_fraction": 1 - mask.float().mean(), "threshold": threshold}

    def get_extra_state(self):
        return {"steps": self.steps, "records": [tuple(t.cpu() for t in r) for r in self.records]}

    def set_extra_state(self, state):
        self.steps = state["steps"]
        self.records = list(state["records"])

    def mask_log(self):
        """One row per masked step and sample: step (of the whole run), sample (row of the
        training set), divergence, threshold, masked."""
        if not self.records:
            return pd.DataFrame(columns=["step", "sample", "divergence", "threshold", "masked"])
        return pd.DataFrame({
            "step": torch.cat([r[0].expand(len(r[1])) for r in self.records]).numpy(),
            "sample": torch.cat([r[1].cpu() for r in self.records]).numpy(),
            "divergence": torch.cat([r[2].float().cpu() for r in self.records]).numpy(),
            "threshold": torch.cat([r[4].float().cpu().expand(len(r[1])) for r in self.records]).numpy(),
            "masked": ~torch.cat([r[3].cpu() for r in self.records]).numpy(),
        })
