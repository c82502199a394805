"""Faces in, tensors out: every image↔tensor step of the deep methods.

uint8 faces ``(n, H, W)`` become uint8 tensors ``(n, 1, S, S)`` (resized once, kept compact on
the device), and float tensors in [0, 1] per batch: whole (:func:`as_float`), randomly or
centrally cropped (:func:`random_crops`, :func:`center_crops`, RAF's 90 % crops), cropped and
mirrored (:func:`crop_flip`, the deep chapters' shared augmentation; of zero-padded faces, the
CIFAR augmentation). Batch transforms for
:mod:`fercore.batches` streams draw from the stream's generator. :func:`predict_batches` runs a
network over faces batch by batch.
"""

import numpy as np
import torch
from torch.nn import functional as F

from fercore.train import host_to_device

CROP_FRACTION = 0.9
"""RAF's protocol: 90×90 crops of 100×100 faces."""


def image_tensor(images, size):
    """uint8 faces (n, H, W) as a uint8 tensor (n, 1, size, size), resized when they differ."""
    images = torch.as_tensor(np.asarray(images))
    if images.ndim != 3 or images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (n, H, W), got {images.dtype} {tuple(images.shape)}")
    x = images.unsqueeze(1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False).round().clamp(0, 255).to(torch.uint8)
    return x


def crop_source(images, input_size=90):
    """uint8 faces (n, H, W) as a uint8 tensor (n, 1, S, S), S = round(input_size / 0.9), so an
    ``input_size`` crop keeps RAF's 90 % of the face; 100×100 faces pass unchanged at 90."""
    return image_tensor(images, round(input_size / CROP_FRACTION))


def as_float(images):
    """uint8 images as float in [0, 1]; float images (already augmented batches) unchanged."""
    return images.float() / 255 if images.dtype == torch.uint8 else images


def to_uint8(images):
    """Float images in [0, 1] (n, 1, S, S) as uint8 numpy (n, S, S)."""
    return (images.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def predict_batches(fn, images, size, batch_size, device):
    """``fn`` over float batches of uint8 faces, concatenated on the CPU."""
    x = image_tensor(images, size)
    outputs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outputs.append(fn(as_float(x[start:start + batch_size].to(device))).float().cpu())
    return torch.cat(outputs) if outputs else torch.zeros(0)


def random_crops(images, size, generator=None):
    """One random ``size``×``size`` crop per face of uint8 (n, 1, S, S), as float in [0, 1]."""
    n, _, height, width = images.shape
    if size > min(height, width):
        raise ValueError(f"crop size {size} exceeds the {height}×{width} images")
    top = host_to_device(torch.randint(0, height - size + 1, (n, 1, 1), generator=generator),
                         images.device)
    left = host_to_device(torch.randint(0, width - size + 1, (n, 1, 1), generator=generator),
                          images.device)
    steps = torch.arange(size, device=images.device)
    rows = (top + steps.view(1, size, 1)).expand(n, size, size)
    cols = (left + steps.view(1, 1, size)).expand(n, size, size)
    sample = torch.arange(n, device=images.device).view(n, 1, 1)
    return (images[sample, 0, rows, cols].unsqueeze(1).float() / 255)


def center_crops(images, size):
    """The central ``size``×``size`` crop of uint8 (n, 1, S, S) faces, as float in [0, 1]."""
    height, width = images.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"crop size {size} exceeds the {height}×{width} images")
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top:top + size, left:left + size].float() / 255


class RandomCrop:
    """Batch transform for :class:`fercore.batches.RandomBatches`: random crops of the images
    (the batch's first tensor), drawn from the batches' generator."""

    def __init__(self, size):
        self.size = size

    def __call__(self, batch, generator):
        images, *rest = batch
        return (random_crops(images, self.size, generator), *rest)


def float_tensor(images, size=None):
    """uint8 ``(n, H, W)`` (or ``(n, 1, H, W)``) faces → float ``(n, 1, size, size)`` in [0, 1]."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.ndim == 3:
        x = x[:, None]
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


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
    """Batch transform for :class:`fercore.batches.RandomBatches`: :func:`crop_flip` of the batch's
    first tensor (the faces), drawn from the batches' generator."""

    def __init__(self, size, flip=True):
        self.size = size
        self.flip = flip

    def __call__(self, batch, generator):
        images, *rest = batch
        return (crop_flip(images, self.size, generator, self.flip), *rest)
