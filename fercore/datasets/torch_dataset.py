"""A torchvision-style ``Dataset`` over a :class:`~fercore.datasets.base.FaceSet`."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from fercore.datasets.base import FaceSet


class FaceDataset(Dataset):
    """``dataset[i]`` is ``(image, label)``: a ``1 x H x W`` float tensor in [0, 1] (after
    ``transform``) and an int class index (single-label) or a float tensor (other label kinds,
    after ``target_transform``)."""

    def __init__(self, faceset: FaceSet, transform=None, target_transform=None):
        self.faceset = faceset
        self.transform = transform
        self.target_transform = target_transform
        self._images = torch.from_numpy(faceset.images)
        self._single = faceset.label_kind == "single"
        self._labels = torch.as_tensor(faceset.labels, dtype=torch.int64 if self._single else torch.float32)

    def __len__(self) -> int:
        return len(self.faceset)

    def __getitem__(self, index):
        image = self._images[index].unsqueeze(0).to(torch.float32).div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        label = int(self._labels[index]) if self._single else self._labels[index]
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    @property
    def classes(self) -> list:
        return list(self.faceset.class_names)
