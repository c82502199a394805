"""Dataset-wise selective sigmoid cross-entropy of SJMT (Pons & Masip 2018, §3, Eq. 1–2).

One network output per class of the union of every dataset's label space. A sample from
dataset ``d`` is scored only on the outputs of the label space(s) ``d`` annotates:

    L_i = − Σ_{c ∈ L_{d_i}} [ y_ic log σ(x_ic) + (1 − y_ic) log(1 − σ(x_ic)) ],   σ(x) = 1/(1 + e^−x)

so the outputs of the other spaces receive no gradient from that sample (an image without AU
labels does not push the AU outputs towards "absent"). With ``ignore_nan=True`` an entry its
dataset left uncoded (NaN, EmotioNet's 999) is skipped the same way.
"""

import torch
from torch import nn
from torch.nn import functional as F

REDUCTIONS = ("mean", "label_mean", "sum", "none")


def label_space_mask(spaces, num_outputs):
    """Boolean ``(D, C)`` mask from one collection of output indices per dataset.

    ``spaces[d]`` lists the outputs (columns of the shared head) that dataset ``d`` labels.
    """
    mask = torch.zeros(len(spaces), num_outputs, dtype=torch.bool)
    for d, columns in enumerate(spaces):
        columns = torch.as_tensor(list(columns), dtype=torch.long)
        if columns.numel() == 0:
            raise ValueError(f"label space of dataset {d} is empty")
        if columns.min() < 0 or columns.max() >= num_outputs:
            raise ValueError(f"label space of dataset {d} has outputs outside 0..{num_outputs - 1}: "
                             f"{columns.tolist()}")
        mask[d, columns] = True
    return mask


class SelectiveSigmoidCrossEntropy(nn.Module):
    """Pons & Masip Eq. 1: sigmoid cross-entropy over the label space(s) of each sample's dataset.

    Parameters
    ----------
    label_spaces : boolean ``(D, C)`` mask (row ``d`` = the outputs dataset ``d`` labels), or a
        sequence of ``D`` collections of output indices (then ``num_outputs`` is required).
    num_outputs : ``C``, the size of the shared output layer, when ``label_spaces`` lists indices.
    ignore_nan : skip NaN targets inside a sample's space (uncoded labels) instead of raising.
    reduction : ``"mean"`` — Eq. 1 per sample (sum over its space), averaged over the batch;
        ``"label_mean"`` — the average over the labeled (sample, class) entries, which is
        ``nn.BCEWithLogitsLoss()`` when every sample's space is the whole output;
        ``"sum"``; ``"none"`` — the ``(n,)`` per-sample losses of Eq. 1.

    ``forward(logits, targets, dataset_ids)``: ``logits`` and ``targets`` ``(n, C)`` (targets in
    [0, 1] inside each sample's space, ignored — NaN allowed — outside it), ``dataset_ids``
    ``(n,)`` integers in ``0..D-1``.
    """

    def __init__(self, label_spaces, num_outputs=None, reduction="mean", ignore_nan=False):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if isinstance(label_spaces, torch.Tensor) or hasattr(label_spaces, "dtype"):
            mask = torch.as_tensor(label_spaces).bool()
            if mask.ndim != 2:
                raise ValueError(f"label_spaces mask must be (datasets, outputs), got shape {tuple(mask.shape)}")
            if num_outputs is not None and mask.shape[1] != num_outputs:
                raise ValueError(f"label_spaces mask has {mask.shape[1]} outputs, num_outputs is {num_outputs}")
            empty = torch.nonzero(~mask.any(dim=1)).flatten()
            if len(empty):
                raise ValueError(f"label spaces of datasets {empty.tolist()} are empty")
        else:
            if num_outputs is None:
                raise ValueError("num_outputs is required when label_spaces lists output indices")
            mask = label_space_mask(label_spaces, num_outputs)
        self.register_buffer("space_mask", mask)
        self.reduction = reduction
        self.ignore_nan = ignore_nan

    @property
    def num_outputs(self):
        return self.space_mask.shape[1]

    def forward(self, logits, targets, dataset_ids):
        n, c = logits.shape if logits.ndim == 2 else (None, None)
        if c != self.num_outputs or targets.shape != logits.shape:
            raise ValueError(f"expected logits and targets of shape (n, {self.num_outputs}), got "
                             f"{tuple(logits.shape)} and {tuple(targets.shape)}")
        dataset_ids = torch.as_tensor(dataset_ids, device=logits.device).long()
        if dataset_ids.shape != (n,):
            raise ValueError(f"dataset_ids must have shape ({n},), got {tuple(dataset_ids.shape)}")
        if n and (dataset_ids.min() < 0 or dataset_ids.max() >= len(self.space_mask)):
            raise ValueError(f"dataset_ids must lie in 0..{len(self.space_mask) - 1}, got "
                             f"{dataset_ids.min().item()}..{dataset_ids.max().item()}")
        selected = self.space_mask[dataset_ids]
        targets = targets.to(logits.dtype)
        if self.ignore_nan:
            selected = selected & ~torch.isnan(targets)
        inside = targets[selected]
        if not torch.isfinite(inside).all() or (inside < 0).any() or (inside > 1).any():
            raise ValueError("targets inside a sample's label space must lie in [0, 1]")
        targets = torch.where(selected, targets, torch.zeros_like(targets))
        entries = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        entries = torch.where(selected, entries, torch.zeros_like(entries))
        per_sample = entries.sum(dim=1)
        if self.reduction == "none":
            return per_sample
        if self.reduction == "sum":
            return per_sample.sum()
        if self.reduction == "label_mean":
            return per_sample.sum() / selected.sum().clamp(min=1)
        return per_sample.mean()
