"""Faces in, tensors out: every image↔tensor step of the deep methods.

uint8 faces ``(n, H, W)`` become uint8 tensors ``(n, 1, S, S)`` (resized once, kept compact on
the device), and float tensors in [0, 1] per batch: whole (:func:`as_float`), randomly or
centrally cropped (:func:`random_crops`, :func:`center_crops`, RAF's 90 % crops), or zero-padded
and randomly cropped back (:func:`pad_random_crop`, the CIFAR augmentation). Batch transforms for
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
    """uint8 images as float in [0, 1]."""
    return images.float() / 255


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


def pad_random_crop(images, pad, generator):
    """Zero-pad by ``pad`` pixels and crop back to the input size at a random offset per image
    (the CIFAR augmentation Pons & Masip use); ``images`` ``(n, C, H, W)``, uint8 or float."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if pad <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    rows = (offsets[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (offsets[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]
