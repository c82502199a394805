"""Face alignment from five landmarks to RAF-DB's template by a similarity transform.

RAF-DB's aligned images are 100×100 crops in which a similarity transform (rotation, uniform
scale, translation) maps the two eye centres and the mouth centre as close as possible, in the
least-squares sense, to (20, 30), (80, 30) and (50, 75). Landmarks are (x, y) pixel
coordinates with pixel centres at integers, in the order RAF-DB stores them: left eye centre,
right eye centre, nose tip, left mouth corner, right mouth corner (left = image left).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

RAF_TEMPLATE = np.array([[20.0, 30.0], [80.0, 30.0], [50.0, 75.0]])
"""Targets of the left eye, right eye and mouth centre in a 100×100 aligned image."""
RAF_SIZE = 100


def template(size: int = RAF_SIZE) -> np.ndarray:
    """:data:`RAF_TEMPLATE` scaled to a ``size``×``size`` image (same relative layout)."""
    if int(size) != size or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size}")
    return (RAF_TEMPLATE + 0.5) * (size / RAF_SIZE) - 0.5


def template_points(landmarks5) -> np.ndarray:
    """The three points aligned to the template: both eye centres and the mouth centre.

    ``landmarks5`` (..., 5, 2) → (..., 3, 2); the mouth centre is the mean of the corners.
    """
    lm = np.asarray(landmarks5, dtype=np.float64)
    if lm.shape[-2:] != (5, 2):
        raise ValueError(f"landmarks5 must have shape (..., 5, 2), got {lm.shape}")
    mouth = lm[..., 3:5, :].mean(axis=-2, keepdims=True)
    return np.concatenate([lm[..., 0:2, :], mouth], axis=-2)


def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity (no reflection) mapping points ``src`` onto ``dst``.

    Umeyama (1991), "Least-squares estimation of transformation parameters between two point
    patterns", Eq. 40–42, in 2-D: with centred points written as complex numbers,
    ``s·e^{iθ} = Σ conj(src_k)·dst_k / Σ |src_k|²`` and ``t = mean(dst) − s·R·mean(src)``.
    ``src``, ``dst``: (..., k, 2) with k ≥ 2; returns (..., 2, 3) matrices ``[s·R | t]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape[-1] != 2 or src.ndim < 2 or src.shape[-2] < 2:
        raise ValueError(f"src must have shape (..., k>=2, 2), got {src.shape}")
    if dst.shape[-2:] != src.shape[-2:]:
        raise ValueError(f"dst shape {dst.shape} does not match src shape {src.shape}")
    mu_s = src.mean(axis=-2, keepdims=True)
    mu_d = dst.mean(axis=-2, keepdims=True)
    zs = (src - mu_s) @ np.array([1, 1j])
    zd = (dst - mu_d) @ np.array([1, 1j])
    spread = (np.abs(zs) ** 2).sum(axis=-1)
    if (spread == 0).any():
        raise ValueError("src points coincide; a similarity transform is undefined")
    c = (np.conj(zs) * zd).sum(axis=-1) / spread
    a, b = c.real, c.imag
    linear = np.stack([np.stack([a, -b], -1), np.stack([b, a], -1)], -2)
    t = mu_d[..., 0, :] - np.einsum("...ij,...j->...i", linear, mu_s[..., 0, :])
    return np.concatenate([linear, t[..., None]], axis=-1)


def apply_transform(matrix, points) -> np.ndarray:
    """Points (..., k, 2) mapped by 2×3 affine ``matrix`` (..., 2, 3)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    return points @ np.swapaxes(matrix[..., :2], -1, -2) + matrix[..., None, :, 2]


def warp_affine(image, matrix, size, cval: float = 0) -> np.ndarray:
    """``image`` (h, w) or (h, w, c) resampled bilinearly into a ``size``×``size`` output whose
    pixel ``p`` comes from input point ``q`` with ``p = matrix @ [q, 1]``."""
    image = np.asarray(image)
    matrix = np.asarray(matrix, dtype=np.float64)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    # ndimage works in (row, col) = (y, x) order
    rowcol = inverse[::-1, [1, 0, 2]]
    channels = image[..., None] if image.ndim == 2 else image
    out = np.stack([
        ndimage.affine_transform(channels[..., c].astype(np.float32), rowcol[:, :2],
                                 offset=rowcol[:, 2], output_shape=(size, size), order=1,
                                 mode="constant", cval=cval)
        for c in range(channels.shape[-1])
    ], axis=-1)
    out = out[..., 0] if image.ndim == 2 else out
    if image.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def align_face(image, landmarks5, size: int = RAF_SIZE):
    """Align one face: warp ``image`` so its eyes and mouth centre land on :func:`template`.

    ``image``: (h, w) or (h, w, c) array; ``landmarks5``: (5, 2) in the image's pixel
    coordinates (RAF-DB order). Returns the ``size``×``size`` aligned image (uint8 for a uint8
    input) and the five landmarks in aligned coordinates.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (h, w) or (h, w, c), got {image.shape}")
    landmarks5 = np.asarray(landmarks5, dtype=np.float64)
    if landmarks5.shape != (5, 2):
        raise ValueError(f"landmarks5 must have shape (5, 2), got {landmarks5.shape}")
    if not np.isfinite(landmarks5).all():
        raise ValueError("landmarks5 contains NaN or infinite values")
    matrix = similarity_transform(template_points(landmarks5), template(size))
    return warp_affine(image, matrix, size), apply_transform(matrix, landmarks5)
