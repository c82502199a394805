"""The training recipe every deep chapter shares, identical for every arm of a comparison.

* **Augmentation** (RAF-DB §6, RAF-ML §6.2, SJMT §4, the semantic paper §4.1): a random square crop
  of each face, mirrored left–right with probability ½, drawn for a whole batch at once from
  uint8 faces held as one tensor (one gather, no per-sample Python). The test input is the
  centre crop, unmirrored.
* **Schedule**: :class:`fercore.train.Schedule` with a linear warm-up and either the paper's
  step drops (``shape="step"``) or a cosine decay (``shape="cosine"``); :func:`recipe_schedule`
  builds it from a profile's named parameters, whose paper values the ``full`` profile keeps.
"""

import torch

from fercore.train import Schedule, host_to_device


def crop_flip(images, size, generator=None, flip=True):
    """A random ``size``×``size`` crop of each uint8 face (n, C, S, S), mirrored left–right with
    probability ½ when ``flip``; float in [0, 1], shape (n, C, size, size).

    All offsets and flips are drawn from ``generator`` (on the CPU) in one call each, so a
    seeded generator gives the same batch on every device.
    """
    n, channels, height, width = images.shape
    if size > min(height, width):
        raise ValueError(f"crop size {size} exceeds the {height}×{width} images")
    top = torch.randint(0, height - size + 1, (n,), generator=generator)
    left = torch.randint(0, width - size + 1, (n,), generator=generator)
    mirror = (torch.rand(n, generator=generator) < 0.5) if flip else torch.zeros(n, dtype=torch.bool)
    steps = torch.arange(size)
    cols = left.view(n, 1) + torch.where(mirror.view(n, 1), size - 1 - steps, steps)  # (n, size)
    rows = top.view(n, 1) + steps  # (n, size)
    pixel = (rows.view(n, size, 1) * width + cols.view(n, 1, size)).view(n, 1, size * size)
    flat = images.reshape(n, channels, height * width)
    index = host_to_device(pixel, images.device).expand(n, channels, size * size)
    return flat.gather(2, index).view(n, channels, size, size).float().div_(255)


class CropFlip:
    """Batch transform for :class:`fercore.train.RandomBatches`: :func:`crop_flip` of the batch's
    first tensor (the faces), drawn from the batches' generator."""

    def __init__(self, size, flip=True):
        self.size = size
        self.flip = flip

    def __call__(self, batch, generator):
        images, *rest = batch
        return (crop_flip(images, self.size, generator, self.flip), *rest)


def recipe_schedule(iterations, lr, *, drops=(), warmup=0.0, shape="step", gamma=0.1,
                    momentum=0.9, weight_decay=0.0):
    """The shared :class:`fercore.train.Schedule`: ``warmup`` (a fraction of ``iterations``) of
    linear warm-up, then ``lr`` divided by ``1/gamma`` at each of ``drops`` (fractions of
    ``iterations``, the papers' multistep policy) or, with ``shape="cosine"``, a cosine decay to 0.
    """
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be a fraction of the iterations in [0, 1), got {warmup}")
    if any(not 0 < d < 1 for d in drops):
        raise ValueError(f"drops must be fractions of the iterations in (0, 1), got {list(drops)}")
    milestones = tuple(max(1, round(d * iterations)) for d in drops) if shape == "step" else ()
    return Schedule(iterations=iterations, lr=lr, momentum=momentum, milestones=milestones,
                    gamma=gamma, weight_decay=weight_decay, warmup=round(warmup * iterations),
                    shape=shape)
