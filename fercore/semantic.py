"""Semantic neighbourhood-aware FER (Fu et al.): the autoencoder that makes semantic neighbours,
and the training that masks the samples whose prediction jumps between a face and its neighbour.

Two estimators, both trained by :class:`fercore.train.Trainer`:

* :class:`SemanticAutoencoder` (scikit-learn transformer) — the asymmetric autoencoder of Table I,
  pre-trained with the multi-scale loss (Eq. 4) by SGD, then refined against a WGAN critic with
  the perceptual + pixel loss (Eq. 5–8) by RMSprop (§IV-B). ``transform`` gives the 64-d codes,
  ``neighbour_generator`` the module that synthesizes neighbours H_d(H_e(I) + N) (Eq. 9).
* :class:`NeighbourhoodAwareClassifier` (scikit-learn classifier) — the two-branch network of
  Table II trained with CE or focal loss, no balancing, a class-weighted loss or batch balancing,
  and without the method, with a fixed threshold T or the batch-level threshold BT (Algorithm 1).
  Which training samples were masked at every step is kept in ``mask_log_``.

The chapter's settings, runs and analyses are in :mod:`fercore.experiments.semantic_ae`.
"""

import math

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.metrics import r2_score
from torch import nn

from fercore.batches import BalancedBatches, RandomBatches
from fercore.inputs import CropFlip, as_float, image_tensor, predict_batches, to_uint8
from fercore.losses.objectives import AutoencoderObjective, NeighbourhoodAwareObjective, PixelLoss, RefinementObjective
from fercore.losses.semantic import (
    FocalLoss,
    PerceptualReconstructionLoss,
    class_weights,
)
from fercore.nets.autoencoder import AsymmetricAutoencoder, Critic
from fercore.nets.twobranch import TwoBranchNet
from fercore.recipe import recipe_schedule
from fercore.train import Schedule, Trainer

METHODS = ("none", "T", "BT")
LOSSES = ("ce", "focal")
BALANCES = ("none", "weighted", "batch")
LR_MILESTONES = (0.2, 0.4, 0.6, 0.8)
"""÷10 every 10 of 50 epochs (§IV-B), as fractions of the run."""


class NeighbourGenerator(nn.Module):
    """I^tr = H_d(H_e(I) + N), N ~ N(0, diag(noise_std²)) — Fu et al. Eq. 9. Frozen."""

    def __init__(self, autoencoder, noise_std):
        super().__init__()
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        noise_std = torch.as_tensor(noise_std, dtype=torch.float32).expand(autoencoder.code_dim)
        self.register_buffer("noise_std", noise_std.clone())

    def train(self, mode=True):
        return super().train(False)

    @torch.no_grad()
    def forward(self, images, generator=None):
        """Neighbours of float images (n, 1, S, S) in [0, 1]."""
        code = self.autoencoder.encode(images)
        noise = torch.randn(code.shape, generator=generator, device=code.device, dtype=code.dtype)
        return self.autoencoder.decode(code + noise * self.noise_std.to(code.dtype))


class AdversarialPair(nn.Module):
    """The autoencoder and its critic, trained together; the encoder stays frozen in evaluation
    mode (refinement trains the decoder H_d and the critic D, §IV-B)."""

    def __init__(self, autoencoder, critic):
        super().__init__()
        self.autoencoder = autoencoder
        self.critic = critic
        self.autoencoder.encoder.requires_grad_(False)
        self.autoencoder.decoder.requires_grad_(True)

    def train(self, mode=True):
        super().train(mode)
        self.autoencoder.encoder.eval()
        return self


class AdversarialTrainer(Trainer):
    """:class:`fercore.train.Trainer` with the refinement update of §IV-B: RMSprop (no momentum,
    no weight decay) with learning rate ``decoder_lr`` for the decoder and ``critic_lr`` for the
    critic; the critic is updated (then weight-clipped) before every generator step during the
    first ``critic_warmup`` steps and before every ``critic_every``-th step afterwards."""

    def __init__(self, pair, objective, iterations, *, decoder_lr=1e-4, critic_lr=2e-5,
                 critic_every=10, critic_warmup=0, **kwargs):
        decoder = list(pair.autoencoder.decoder.parameters())
        super().__init__(pair, objective, Schedule(iterations, lr=decoder_lr, momentum=0.0),
                         param_groups=decoder, **kwargs)
        self.optimizer = torch.optim.RMSprop(
            [{"params": decoder, "lr": decoder_lr},
             {"params": list(pair.critic.parameters()), "lr": critic_lr}],
            momentum=0.0, weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=[])
        self.critic_every, self.critic_warmup = critic_every, critic_warmup
        self.last_critic_loss = torch.zeros((), device=self.device)

    def update(self, batch):
        pair, real = self.model, as_float(batch[0])
        if self.step < self.critic_warmup or self.step % self.critic_every == 0:
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                critic_loss = self.loss_fn.critic_step_loss(pair, real)
            critic_loss.backward()
            self.optimizer.step()
            pair.critic.clip_weights()
            self.last_critic_loss = critic_loss.detach().float()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            terms = self.loss_fn(pair, real, self.step)
        terms["loss"].backward()
        for p in pair.critic.parameters():
            p.grad = None
        self.optimizer.step()
        self.scheduler.step()
        terms["critic"] = self.last_critic_loss
        return {name: value.detach().float() for name, value in terms.items()}


class SemanticAutoencoder(BaseEstimator, TransformerMixin):
    """The asymmetric autoencoder of Fu et al., trained in their two stages (§III-B, §IV-B).

    Stage 1, :meth:`pretrain`: Loss_AE (Eq. 4, α = 4 for the input, 1 for hidden scales) by SGD,
    momentum 0.9, weight decay 4e-4, lr ``pretrain_lr`` (1e-3) ÷10 at ``lr_milestones`` (fractions
    of the run; the paper's every 10 of 50 epochs by default), batch 256.
    Stage 2, :meth:`refine`: Eq. 8 with Loss_Rec of Eq. 5 (pixel + perceptual on a trained FER
    net's conv3–conv5, weights 100, 0.1, 0.001), λ_AE 1e-3 ×0.1 every fifth of the run,
    λ_Adv 5, λ_Rec 1, RMSprop 1e-4 (decoder) / 2e-5 (critic), critic once per 10 generator
    steps after a first epoch of critic updates at every step, batch 64.

    ``X`` are uint8 faces (n, H, W), resized to ``input_size``. After fitting: ``model_`` (the
    :class:`~fercore.nets.autoencoder.AsymmetricAutoencoder`), ``critic_``, ``code_std_`` (the
    codes' per-dimension standard deviation over the training faces; refinement keeps the encoder
    fixed) and ``history_`` (per-step logs of both stages).
    """

    def __init__(self, input_size=112, width=1.0, code_dim=64, pretrain_iterations=1000,
                 pretrain_batch_size=256, pretrain_lr=1e-3, lr_milestones=LR_MILESTONES,
                 refine_iterations=1000, refine_batch_size=64, decoder_lr=1e-4, critic_lr=2e-5,
                 critic_every=10, lambda_ae=1e-3, lambda_adv=5.0, lambda_rec=1.0,
                 perceptual_weights=(100.0, 0.1, 0.001), device="auto", seed=0):
        self.input_size = input_size
        self.width = width
        self.code_dim = code_dim
        self.pretrain_iterations = pretrain_iterations
        self.pretrain_batch_size = pretrain_batch_size
        self.pretrain_lr = pretrain_lr
        self.lr_milestones = lr_milestones
        self.refine_iterations = refine_iterations
        self.refine_batch_size = refine_batch_size
        self.decoder_lr = decoder_lr
        self.critic_lr = critic_lr
        self.critic_every = critic_every
        self.lambda_ae = lambda_ae
        self.lambda_adv = lambda_adv
        self.lambda_rec = lambda_rec
        self.perceptual_weights = perceptual_weights
        self.device = device
        self.seed = seed

    def _images(self, X):
        return image_tensor(X, self.input_size)

    def pretrain(self, X):
        """Stage 1: a fresh autoencoder trained with Loss_AE (Eq. 4)."""
        x = self._images(X)
        torch.manual_seed(self.seed)
        self.model_ = AsymmetricAutoencoder(self.input_size, self.width, self.code_dim)
        schedule = Schedule(self.pretrain_iterations, lr=self.pretrain_lr, momentum=0.9,
                            weight_decay=4e-4,
                            milestones=sorted({max(1, round(f * self.pretrain_iterations))
                                               for f in self.lr_milestones}))
        trainer = Trainer(self.model_, AutoencoderObjective(), schedule, device=self.device,
                          seed=self.seed, desc="autoencoder pre-training")
        batches = RandomBatches(x, batch_size=min(self.pretrain_batch_size, len(x)), seed=self.seed)
        self.history_ = {"pretrain": trainer.fit(batches)}
        self.device_ = trainer.device
        self._fit_code_std(X)
        return self

    def refine(self, X, perceptual_net=None):
        """Stage 2: the decoder against a WGAN critic with Eq. 8. ``perceptual_net`` is the
        trained FER network of Eq. 5 (its ``conv_features``); without it Loss_Rec is the pixel
        term alone."""
        if not hasattr(self, "model_"):
            raise ValueError("refine() needs a pre-trained autoencoder; call pretrain() first")
        x = self._images(X)
        torch.manual_seed(self.seed + 1)
        self.critic_ = Critic(self.input_size, self.width)
        if perceptual_net is None:
            reconstruction = PixelLoss()
        else:
            reconstruction = PerceptualReconstructionLoss(perceptual_net, self.perceptual_weights)
        batch_size = min(self.refine_batch_size, len(x))
        objective = RefinementObjective(reconstruction, self.lambda_ae,
                                        max(1, round(self.refine_iterations / 5)),
                                        self.lambda_adv, self.lambda_rec)
        pair = AdversarialPair(self.model_, self.critic_)
        trainer = AdversarialTrainer(
            pair, objective, self.refine_iterations, decoder_lr=self.decoder_lr,
            critic_lr=self.critic_lr, critic_every=self.critic_every,
            critic_warmup=min(self.refine_iterations, math.ceil(len(x) / batch_size)),
            device=self.device, seed=self.seed + 1, desc="autoencoder refinement")
        self.history_["refine"] = trainer.fit(RandomBatches(x, batch_size=batch_size, seed=self.seed + 1))
        self.model_.encoder.requires_grad_(True)
        self.model_.eval()
        return self

    def fit(self, X, y=None, perceptual_net=None):
        """Both stages; ``refine_iterations=0`` stops after pre-training."""
        self.pretrain(X)
        if self.refine_iterations:
            self.refine(X, perceptual_net)
        return self

    def _fit_code_std(self, X):
        self.model_.eval()
        self.code_std_ = self.transform(X).std(axis=0)

    def transform(self, X):
        """The semantic codes H_e(X), float32 (n, code_dim)."""
        self.model_.eval()
        return predict_batches(self.model_.encode, X, self.input_size, 256, self.device_).numpy()

    def inverse_transform(self, codes):
        """Faces H_d(codes) as uint8 (n, S, S)."""
        self.model_.eval()
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32)
        if len(codes) == 0:
            return np.zeros((0, self.input_size, self.input_size), np.uint8)
        with torch.no_grad():
            return np.concatenate([to_uint8(self.model_.decode(codes[i:i + 256].to(self.device_)))
                                   for i in range(0, len(codes), 256)])

    def reconstruct(self, X):
        """H_d(H_e(X)) as uint8 faces (n, S, S)."""
        return self.inverse_transform(self.transform(X))

    def score(self, X, y=None):
        """R² of the reconstructions H_d(H_e(X)) over the pixels (scikit-learn's ``r2_score``,
        variance-weighted): the share of the faces' pixel variation the autoencoder recovers."""
        X = image_tensor(X, self.input_size).squeeze(1).numpy()
        return float(r2_score(X.reshape(len(X), -1).astype(np.float64),
                              self.reconstruct(X).reshape(len(X), -1).astype(np.float64),
                              multioutput="variance_weighted"))

    def neighbour_generator(self, noise_scale):
        """The frozen module of Eq. 9 with noise N(0, (noise_scale · code_std_)²) per dimension."""
        if noise_scale < 0:
            raise ValueError(f"noise_scale must be non-negative, got {noise_scale}")
        return NeighbourGenerator(self.model_, noise_scale * torch.as_tensor(self.code_std_))

    def neighbours(self, X, noise_scale, seed=0):
        """One semantic neighbour per face (Eq. 9), uint8 (n, S, S)."""
        generator = self.neighbour_generator(noise_scale).to(self.device_)
        rng = torch.Generator(device=self.device_).manual_seed(seed)
        out = predict_batches(lambda x: generator(x, rng), X, self.input_size, 256, self.device_)
        return to_uint8(out)


class NeighbourhoodAwareClassifier(BaseEstimator, ClassifierMixin):
    """Fu et al.'s two-branch FER network (Table II) with their training options (Table VIII).

    Parameters
    ----------
    method : ``"none"`` (plain training), ``"T"`` (mask Div ≥ ``threshold``, Eq. 11) or ``"BT"``
        (mask Div ≥ the batch mean, Eq. 14).
    neighbours : the :class:`NeighbourGenerator` of a fitted :class:`SemanticAutoencoder`
        (``autoencoder.neighbour_generator(noise_scale)``); needed unless ``method="none"``.
    threshold : T for ``method="T"``.
    mask_start : fraction of the iterations trained without the mask before Algorithm 1 starts
        masking (not in the paper, which masks from the first step: 0).
    loss : ``"ce"`` or ``"focal"`` (γ = ``gamma``).
    balance : ``"none"``, ``"weighted"`` (inverse-frequency class weights in the loss) or
        ``"batch"`` (every class equally represented in each batch; ``batch_size`` a multiple of
        the number of classes).
    batch_size, iterations, lr, weight_decay, momentum : SGD (§IV-B: 63, 50 epochs, 0.01 ÷10 every
        10 epochs, 0.002, 0.9); the learning rate drops at ``lr_milestones`` (fractions of the run).
    warmup, lr_schedule : the deep chapters' shared recipe (:func:`fercore.recipe.recipe_schedule`):
        a linear warm-up over that fraction of the run, and ``"step"`` (the drops) or ``"cosine"``
        (a cosine decay to 0 instead); the paper: 0 and ``"step"``.
    pad, flip : training faces zero-padded by ``pad`` pixels and randomly cropped back, mirrored
        at random with ``flip`` (:func:`fercore.inputs.crop_flip`); the paper augments nothing
        (0, False). Neighbours are made of the augmented faces.
    input_size, width : of the :class:`~fercore.nets.twobranch.TwoBranchNet`.

    ``fit(X, y, curve=None)``: uint8 faces (n, H, W) and integer labels; ``curve`` a
    :class:`fercore.curves.LearningCurve` recorded during the run (``net_`` is the net being
    trained meanwhile, so its ``evaluate`` may call :meth:`predict`). After fitting:
    ``classes_``, ``net_``, ``history_`` (the trainer's per-step log), ``mask_log_`` (one row per
    step and sample: ``sample`` is the row of ``X``) and ``curve_`` (empty without a curve).
    """

    def __init__(self, method="none", neighbours=None, threshold=0.1, mask_start=0.0, loss="focal",
                 gamma=2.0, balance="batch", batch_size=63, iterations=1000, lr=0.01,
                 lr_milestones=LR_MILESTONES, warmup=0.0, lr_schedule="step", weight_decay=2e-3,
                 momentum=0.9, pad=0, flip=False, input_size=112, width=1.0, device="auto", seed=0):
        self.method = method
        self.neighbours = neighbours
        self.threshold = threshold
        self.mask_start = mask_start
        self.loss = loss
        self.gamma = gamma
        self.balance = balance
        self.batch_size = batch_size
        self.iterations = iterations
        self.lr = lr
        self.lr_milestones = lr_milestones
        self.warmup = warmup
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.pad = pad
        self.flip = flip
        self.input_size = input_size
        self.width = width
        self.device = device
        self.seed = seed

    def _check_params(self):
        for name, value, allowed in (("method", self.method, METHODS), ("loss", self.loss, LOSSES),
                                     ("balance", self.balance, BALANCES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not 0 <= self.mask_start < 1:
            raise ValueError(f"mask_start must be a fraction of the run in [0, 1), got {self.mask_start}")
        if self.method != "none" and self.neighbours is None:
            raise ValueError(f"method={self.method!r} needs a neighbour generator (neighbours=)")
        if self.method != "none" and self.neighbours.autoencoder.input_size != self.input_size:
            raise ValueError(f"the neighbour generator makes {self.neighbours.autoencoder.input_size}"
                             f"-pixel faces but input_size is {self.input_size}")

    def _criterion(self, y):
        weight = class_weights(y, len(self.classes_)) if self.balance == "weighted" else None
        return FocalLoss(self.gamma if self.loss == "focal" else 0.0, weight, reduction="none")

    def fit(self, X, y, curve=None):
        self._check_params()
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be (n,) labels for the {len(X)} faces, got shape {y.shape}")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        x = torch.nn.functional.pad(image_tensor(X, self.input_size), (self.pad,) * 4)
        augment = CropFlip(self.input_size, self.flip) if self.pad or self.flip else None
        labels = torch.as_tensor(y_index, dtype=torch.int64)
        index = torch.arange(len(x))
        threshold = {"none": None, "T": self.threshold, "BT": "batch"}[self.method]
        objective = NeighbourhoodAwareObjective(
            self._criterion(y_index), None if threshold is None else self.neighbours, threshold,
            mask_start=round(self.mask_start * self.iterations))
        torch.manual_seed(self.seed)
        self.net_ = TwoBranchNet(len(self.classes_), self.input_size, self.width)
        schedule = recipe_schedule(self.iterations, self.lr, drops=sorted(set(self.lr_milestones)),
                                   warmup=self.warmup, shape=self.lr_schedule, momentum=self.momentum,
                                   weight_decay=self.weight_decay)
        trainer = Trainer(self.net_, objective, schedule, device=self.device, seed=self.seed,
                          desc=f"two-branch net ({self.method})")
        if self.balance == "batch":
            batches = BalancedBatches(x, labels, index, labels=labels, batch_size=self.batch_size,
                                      num_classes=len(self.classes_), seed=self.seed, transform=augment)
        else:
            batches = RandomBatches(x, labels, index, batch_size=min(self.batch_size, len(x)),
                                    seed=self.seed, transform=augment)
        self.device_ = trainer.device
        if curve is None:
            self.history_, self.curve_ = trainer.fit(batches), pd.DataFrame()
        else:
            self.history_ = curve.fit(trainer, batches, images_per_step=self.batch_size)
            self.curve_ = curve.frame
        self.mask_log_ = objective.mask_log()
        return self

    def predict_proba(self, X):
        """Softmax of the fused prediction, (n, n_classes)."""
        self.net_.eval()
        logits = predict_batches(self.net_, X, self.input_size, 256, self.device_)
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
