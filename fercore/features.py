"""Handcrafted face descriptors (LBP, HOG, Gabor) as scikit-learn transformers over image batches.

The three descriptors of the RAF papers' baselines (RAF-DB §5; RAF-ML §6.3.1), computed on
aligned 100×100 grayscale faces:

* :class:`LBPTransformer` — 59-bin uniform ``LBP_{8,2}^{u2}`` histograms of 10×10-pixel cells
  (5,900-d); the codes equal scikit-image's ``local_binary_pattern(P=8, R=2, "nri_uniform")``.
* :class:`HOGTransformer` — 10×10-pixel blocks of four 5×5-pixel cells, no overlap, 10
  orientation bins (4,000-d); equal to scikit-image's ``hog`` keeping every other block.
* :class:`GaborTransformer` — 40 Gabor filters (5 scales × 8 orientations), response magnitudes
  averaged down to 10×10 (4,000-d); the kernels are scikit-image's ``gabor_kernel``.

Each transformer takes an array ``(n, H, W)`` (uint8 or float) and works on whole batches: HOG
and Gabor with NumPy/FFT array operations, LBP with a compiled (numba) loop over pixels — no
Python loop over images.
"""

import collections
import functools
import math

import numba
import numpy as np
import scipy.fft
from skimage.filters import gabor_kernel
from sklearn.base import BaseEstimator, TransformerMixin


def as_image_batch(images, name="images") -> np.ndarray:
    """``images`` checked as a numeric array ``(n, H, W)`` (dtype kept); ``ValueError`` otherwise."""
    arr = np.asarray(images)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be an array of shape (n, height, width); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 images)")
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite pixel values")
    return arr


def _padded(images, pad_rows, pad_cols, dtype, mode="constant"):
    """``images`` converted to ``dtype`` with ``pad_rows``/``pad_cols`` pixels added on each side:
    zeros (``"constant"``) or any ``numpy.pad`` mode (``"symmetric"`` mirrors the border)."""
    n, height, width = images.shape
    if mode == "constant":
        out = np.zeros((n, height + 2 * pad_rows, width + 2 * pad_cols), dtype=dtype)
        out[:, pad_rows:pad_rows + height, pad_cols:pad_cols + width] = images
        return out
    return np.pad(images.astype(dtype, copy=False), ((0, 0), (pad_rows, pad_rows), (pad_cols, pad_cols)), mode=mode)


def _check_divisible(shape, size, what):
    height, width = shape
    if height % size or width % size:
        raise ValueError(f"image size {height}×{width} is not a multiple of the {what} ({size} pixels)")


def _batches(n, batch_size):
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1; got {batch_size}")
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


class _ImageTransformer(TransformerMixin, BaseEstimator):
    """Stateless transformer: ``fit`` only checks the input; ``transform`` does the work."""

    def fit(self, X, y=None):
        images = as_image_batch(X)
        self.image_shape_ = images.shape[1:]
        self._check_shape(self.image_shape_)
        return self

    def _checked_images(self, X):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}")
        images = as_image_batch(X)
        self._check_shape(images.shape[1:])
        return images

    def transform(self, X):
        images = self._checked_images(X)
        out = None
        for batch in _batches(len(images), self.batch_size):
            features = self._transform_batch(images[batch])
            if out is None:
                out = np.empty((len(images), features.shape[1]), dtype=self.dtype)
            out[batch] = features
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


# ---------------------------------------------------------------------------------------------
# LBP
# ---------------------------------------------------------------------------------------------


def nri_uniform_lut(n_points: int = 8) -> np.ndarray:
    """Map each ``n_points``-bit LBP pattern to its non-rotation-invariant uniform code.

    Ojala et al. (2002) ``LBP^{u2}``: the ``P(P−1)+2`` uniform patterns (at most two 0/1
    transitions) get their own codes, all other patterns share the last one, ``P(P−1)+2``
    (59 codes for ``P = 8``). Codes follow scikit-image's ``nri_uniform`` numbering: 0 for all
    zeros, ``P(P−1)+1`` for all ones, and ``1 + (n_ones−1)·P + rotation`` in between.
    """
    bits = (np.arange(2**n_points)[:, None] >> np.arange(n_points)[None, :]) & 1
    changes = np.abs(np.diff(bits, axis=1)).sum(axis=1)
    n_ones = bits.sum(axis=1)
    first_one = np.where(bits.any(axis=1), bits.argmax(axis=1), -1)
    first_zero = np.where((1 - bits).any(axis=1), (1 - bits).argmax(axis=1), -1)
    rotation = np.where(first_one == 0, n_ones - first_zero, n_points - first_one)
    codes = 1 + (n_ones - 1) * n_points + rotation
    codes = np.where(n_ones == 0, 0, codes)
    codes = np.where(n_ones == n_points, n_points * (n_points - 1) + 1, codes)
    codes = np.where(changes > 2, n_points * (n_points - 1) + 2, codes)
    return codes.astype(np.int64)


@functools.lru_cache(maxsize=4)
def _nri_uniform_lut_uint8(n_points):
    return nri_uniform_lut(n_points).astype(np.uint8)


def _check_lbp_operator(n_points, radius):
    if not isinstance(n_points, (int, np.integer)) or not 1 <= n_points <= 16:
        raise ValueError(f"n_points must be an integer from 1 to 16; got {n_points!r}")
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be a finite number > 0; got {radius!r}")


def _interpolation_table(size, offset):
    """For positions ``i + offset``, i < size: floor, ceil and the weights (1 − d, d), d = pos − floor,
    in float64 as scikit-image's ``bilinear_interpolation`` computes them (d varies slightly with i)."""
    position = np.arange(size, dtype=np.float64) + offset
    low = np.floor(position)
    weight = position - low
    return low.astype(np.int64), np.ceil(position).astype(np.int64), 1 - weight, weight


def _groups_of_four(neighbours):
    """Neighbour indices as rows of four, the last one repeated to fill the last row."""
    neighbours = list(neighbours)
    neighbours += neighbours[-1:] * (-len(neighbours) % 4)
    return np.array(neighbours, dtype=np.int64).reshape(-1, 4)


_LBPGeometry = collections.namedtuple("_LBPGeometry", [
    "pad", "row_low", "row_high", "row_w0", "row_w1", "plane_low", "plane_high", "plane_w0", "plane_w1",
    "plane_of", "col_shift", "exact_groups", "interpolated_groups"])


@functools.lru_cache(maxsize=16)
def _lbp_geometry(shape, n_points, radius):
    """Where and with which weights ``LBP_{P,R}`` samples an H×W image, as scikit-image does.

    scikit-image puts neighbour p at row offset ``round(−R·sin(2πp/P), 5)`` and column offset
    ``round(R·cos(2πp/P), 5)`` and interpolates in float64: ``(1−dr)·top + dr·bottom``, with
    ``top = (1−dc)·I[r0, c0] + dc·I[r0, c1]`` and ``bottom`` alike on row ``r1``, where
    ``r0 = floor(r + offset)`` and ``dr = (r + offset) − r0`` (rounding makes it vary slightly
    with r, so it is tabulated per row: ``row_low``, ``row_high``, ``row_w0`` = 1−dr, ``row_w1``
    = dr; likewise per column). Pixels outside the image are 0 (a zero border of ``pad``).

    ``top`` and ``bottom`` depend only on the column offset: each fractional column offset gets
    a plane (index ≥ 1) holding them for every row, computed once per image and shared by its
    neighbours; integer column offsets read the padded image, plane 0, directly (weights 1 and
    0 give the pixel exactly). ``floor(c + offset) − c`` does not depend on c (the offsets have
    five decimals), so a plane has one pair of column shifts (``plane_low``, ``plane_high``) and
    a neighbour one shift into its plane (``col_shift``). Neighbours with an integer row offset
    (dr = 0) take ``top`` as it is (``exact_groups``), the others interpolate
    (``interpolated_groups``); both in rows of four, processed together.
    """
    height, width = shape
    angles = 2 * np.pi * np.arange(n_points, dtype=np.float64) / n_points
    row_offsets = np.round(-radius * np.sin(angles), 5)
    col_offsets = np.round(radius * np.cos(angles), 5)
    pad = int(math.ceil(radius)) + 1
    row_low, row_high, row_w0, row_w1 = (
        np.stack(table) for table in zip(*(_interpolation_table(height, offset) for offset in row_offsets)))
    fractional = sorted({float(o) for o in col_offsets if o != np.floor(o)})
    plane_w0 = np.zeros((len(fractional), width))
    plane_w1 = np.zeros((len(fractional), width))
    for g, offset in enumerate(fractional):
        _, _, plane_w0[g], plane_w1[g] = _interpolation_table(width, offset)
    exact = [p for p in range(n_points) if not row_w1[p].any()]
    return _LBPGeometry(
        pad=pad, row_low=row_low + pad, row_high=row_high + pad, row_w0=row_w0, row_w1=row_w1,
        plane_low=np.array([math.floor(o) + pad for o in fractional], dtype=np.int64),
        plane_high=np.array([math.ceil(o) + pad for o in fractional], dtype=np.int64),
        plane_w0=plane_w0, plane_w1=plane_w1,
        plane_of=np.array([0 if o == np.floor(o) else 1 + fractional.index(float(o)) for o in col_offsets]),
        col_shift=np.array([pad + int(o) if o == np.floor(o) else 0 for o in col_offsets]),
        exact_groups=_groups_of_four(exact),
        interpolated_groups=_groups_of_four(p for p in range(n_points) if p not in exact))


@numba.njit(cache=True, nogil=True)
def _lbp_planes(image, geometry, planes):
    """Copy ``image`` into ``planes[0]`` (zero border) and fill the row-interpolated planes."""
    pad = geometry.pad
    height, width = image.shape
    padded = planes[0]
    for y in range(height):
        for x in range(width):
            padded[y + pad, x + pad] = image[y, x]
    for g in range(geometry.plane_w0.shape[0]):
        w0, w1 = geometry.plane_w0[g], geometry.plane_w1[g]
        low, high = geometry.plane_low[g], geometry.plane_high[g]
        for y in range(padded.shape[0]):
            left, right, out = padded[y, low:low + width], padded[y, high:high + width], planes[g + 1, y]
            for c in range(width):
                out[c] = w0[c] * left[c] + w1[c] * right[c]


@numba.njit(cache=True, nogil=True)
def _plane_row(planes, geometry, p, row, width):
    """The ``width`` row-interpolated samples of neighbour ``p`` on padded row ``row``."""
    shift = geometry.col_shift[p]
    return planes[geometry.plane_of[p], row, shift:shift + width]


@numba.njit(cache=True, nogil=True)
def _lbp_row(planes, r, geometry, lut, pattern, out):
    """Codes of image row ``r`` into ``out``: bit p = (neighbour p − centre ≥ 0), mapped by ``lut``."""
    width = out.shape[0]
    centre = planes[0, r + geometry.pad, geometry.pad:geometry.pad + width]
    low, high, w0, w1 = geometry.row_low[:, r], geometry.row_high[:, r], geometry.row_w0[:, r], geometry.row_w1[:, r]
    pattern[:] = 0
    for group in geometry.exact_groups:
        p0, p1, p2, p3 = group[0], group[1], group[2], group[3]
        v0, v1 = _plane_row(planes, geometry, p0, low[p0], width), _plane_row(planes, geometry, p1, low[p1], width)
        v2, v3 = _plane_row(planes, geometry, p2, low[p2], width), _plane_row(planes, geometry, p3, low[p3], width)
        for c in range(width):
            x = centre[c]
            pattern[c] |= ((np.int32(v0[c] - x >= 0) << p0) | (np.int32(v1[c] - x >= 0) << p1)
                           | (np.int32(v2[c] - x >= 0) << p2) | (np.int32(v3[c] - x >= 0) << p3))
    for group in geometry.interpolated_groups:
        p0, p1, p2, p3 = group[0], group[1], group[2], group[3]
        t0, b0 = _plane_row(planes, geometry, p0, low[p0], width), _plane_row(planes, geometry, p0, high[p0], width)
        t1, b1 = _plane_row(planes, geometry, p1, low[p1], width), _plane_row(planes, geometry, p1, high[p1], width)
        t2, b2 = _plane_row(planes, geometry, p2, low[p2], width), _plane_row(planes, geometry, p2, high[p2], width)
        t3, b3 = _plane_row(planes, geometry, p3, low[p3], width), _plane_row(planes, geometry, p3, high[p3], width)
        for c in range(width):
            x = centre[c]
            pattern[c] |= ((np.int32(w0[p0] * t0[c] + w1[p0] * b0[c] - x >= 0) << p0)
                           | (np.int32(w0[p1] * t1[c] + w1[p1] * b1[c] - x >= 0) << p1)
                           | (np.int32(w0[p2] * t2[c] + w1[p2] * b2[c] - x >= 0) << p2)
                           | (np.int32(w0[p3] * t3[c] + w1[p3] * b3[c] - x >= 0) << p3))
    for c in range(width):
        out[c] = lut[pattern[c]]


def _lbp_buffers(images, geometry):
    """Scratch for the kernels: the planes of one image and one row of bit patterns."""
    n, height, width = images.shape
    planes = np.zeros((geometry.plane_w0.shape[0] + 1, height + 2 * geometry.pad, width + 2 * geometry.pad))
    return planes, np.empty(width, dtype=np.int32)


@numba.njit(cache=True, nogil=True)
def _lbp_codes_kernel(images, geometry, lut, planes, pattern, out):
    """The code of every pixel of ``images`` into ``out`` (same shape)."""
    for k in range(images.shape[0]):
        _lbp_planes(images[k], geometry, planes)
        for r in range(images.shape[1]):
            _lbp_row(planes, r, geometry, lut, pattern, out[k, r])


@numba.njit(cache=True, nogil=True)
def _lbp_histogram_kernel(images, geometry, lut, cell_size, n_bins, planes, pattern, out):
    """Frequency of each code in each ``cell_size``² cell (count / cell area) into ``out``
    ``(n, cells · n_bins)``, cells in row-major order."""
    n, height, width = images.shape
    codes = np.empty(width, lut.dtype)
    counts = np.empty(out.shape[1], np.int32)
    column_bin = (np.arange(width) // cell_size) * n_bins
    row_of_cells = (width // cell_size) * n_bins
    for k in range(n):
        _lbp_planes(images[k], geometry, planes)
        counts[:] = 0
        for r in range(height):
            _lbp_row(planes, r, geometry, lut, pattern, codes)
            base = (r // cell_size) * row_of_cells
            for c in range(width):
                counts[base + column_bin[c] + codes[c]] += 1
        for j in range(counts.shape[0]):
            out[k, j] = counts[j] / (cell_size * cell_size)


def lbp_codes(images, n_points: int = 8, radius: float = 2.0) -> np.ndarray:
    """Uniform LBP code of every pixel of a batch ``(n, H, W)`` → int array ``(n, H, W)``.

    Ojala et al. (2002): the ``n_points`` neighbours on a circle of ``radius`` (bilinear
    interpolation, zeros outside the image) are thresholded at the centre pixel
    (``neighbour − centre ≥ 0``) and the bit pattern is mapped by :func:`nri_uniform_lut`.
    A compiled loop does, for the whole batch, the float64 operations of scikit-image's
    ``local_binary_pattern(..., method="nri_uniform")`` (see :func:`_lbp_geometry`), so the
    codes are identical (tested).
    """
    _check_lbp_operator(n_points, radius)
    images = np.ascontiguousarray(as_image_batch(images))
    geometry = _lbp_geometry(images.shape[1:], n_points, float(radius))
    out = np.empty(images.shape, dtype=np.int64)
    _lbp_codes_kernel(images, geometry, _nri_uniform_lut_uint8(n_points), *_lbp_buffers(images, geometry), out)
    return out


def cell_histograms(codes, cell_size: int, n_bins: int) -> np.ndarray:
    """Per-cell histograms of integer maps ``(n, H, W)`` → ``(n, H/cell · W/cell, n_bins)`` counts."""
    n, height, width = codes.shape
    _check_divisible((height, width), cell_size, "cell size")
    gy, gx = height // cell_size, width // cell_size
    cell = (np.arange(height)[:, None] // cell_size) * gx + (np.arange(width)[None, :] // cell_size)
    index = (np.arange(n)[:, None, None] * (gy * gx) + cell[None]) * n_bins + codes
    counts = np.bincount(index.ravel(), minlength=n * gy * gx * n_bins)
    return counts.reshape(n, gy * gx, n_bins)


class LBPTransformer(_ImageTransformer):
    """59-bin uniform ``LBP_{8,2}`` histograms over square cells, concatenated (RAF-DB §5).

    Parameters
    ----------
    n_points, radius : the LBP operator ``LBP_{P,R}`` (8, 2 in the papers).
    cell_size : side of the square cells in pixels (10 → 100 cells on a 100×100 face).
    batch_size : images per call of the compiled loop (bounds the copy made of non-contiguous input).
    dtype : ``"float32"`` or ``"float64"`` output.

    Each cell's histogram is divided by the number of pixels in the cell (frequencies summing
    to 1), so the output for 100×100 faces is 100 cells × 59 bins = 5,900 values. The codes
    are those of :func:`lbp_codes`, counted as they are made (no code map is stored).
    """

    def __init__(self, n_points=8, radius=2.0, cell_size=10, batch_size=256, dtype="float32"):
        self.n_points = n_points
        self.radius = radius
        self.cell_size = cell_size
        self.batch_size = batch_size
        self.dtype = dtype

    def _check_shape(self, shape):
        _check_lbp_operator(self.n_points, self.radius)
        _check_divisible(shape, self.cell_size, "LBP cell size")

    def transform(self, X):
        images = self._checked_images(X)
        n, height, width = images.shape
        n_bins = self.n_points * (self.n_points - 1) + 3
        out = np.empty((n, (height // self.cell_size) * (width // self.cell_size) * n_bins), dtype=self.dtype)
        geometry = _lbp_geometry((height, width), self.n_points, float(self.radius))
        lut = _nri_uniform_lut_uint8(self.n_points)
        planes, pattern = _lbp_buffers(images, geometry)
        for batch in _batches(n, self.batch_size):
            _lbp_histogram_kernel(np.ascontiguousarray(images[batch]), geometry, lut, self.cell_size, n_bins,
                                  planes, pattern, out[batch])
        return out


# ---------------------------------------------------------------------------------------------
# HOG
# ---------------------------------------------------------------------------------------------


def image_gradients(images):
    """Central differences ``I[r+1]−I[r−1]`` along rows and columns, zero on the border rows/cols
    (Dalal & Triggs' [−1, 0, 1] filter, as scikit-image's ``hog``)."""
    g_row = np.zeros_like(images)
    g_col = np.zeros_like(images)
    g_row[:, 1:-1, :] = images[:, 2:, :] - images[:, :-2, :]
    g_col[:, :, 1:-1] = images[:, :, 2:] - images[:, :, :-2]
    return g_row, g_col


def l2_hys(blocks, axis, eps=1e-5, clip=0.2):
    """Dalal & Triggs' L2-Hys block normalization: L2-normalize, clip at ``clip``, renormalize."""
    out = blocks / np.sqrt(np.sum(blocks**2, axis=axis, keepdims=True) + eps**2)
    out = np.minimum(out, clip)
    return out / np.sqrt(np.sum(out**2, axis=axis, keepdims=True) + eps**2)


def orientation_bins(g_row, g_col, n_bins):
    """Bin ``i`` of the unsigned gradient orientation, ``180i/n ≤ θ < 180(i+1)/n`` degrees.

    θ = ``arctan2(g_row, g_col)·180/π mod 180`` as scikit-image's ``hog``. Computed in float32;
    pixels within 10⁻³° of a bin edge (including 0°/180°) are recomputed in float64 so that
    every pixel lands in the bin scikit-image gives it.
    """
    width = 180.0 / n_bins
    # position in bin units over the full circle, (0, 2n]; folding by n gives the unsigned bin
    position = np.arctan2(g_row, g_col, dtype=np.float32)
    position += np.float32(np.pi)
    position *= np.float32(n_bins / np.pi)
    bins = position.astype(np.int32)
    bins -= n_bins * (bins >= n_bins)
    near = np.abs(position - np.rint(position)) < np.float32(1e-3 / width)
    # axis-aligned gradients (common in flat or striped regions of integer images) are exact
    # cases: θ is 0° when g_row is 0, else ±90° when g_col is 0; give them scikit-image's bins
    flat_row, flat_col = g_row == 0, g_col == 0
    if flat_row.any() or flat_col.any():
        zero, up, down = np.arctan2(np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.0, 0.0])) * (180 / np.pi) % 180
        edges = np.array([width * i for i in range(1, n_bins)])
        bin_zero, bin_up, bin_down = np.searchsorted(edges, [zero, up, down], side="right")
        bins[flat_col] = np.where(g_row[flat_col] > 0, bin_up, bin_down)
        bins[flat_row] = bin_zero
        near &= ~(flat_row | flat_col)
    if near.any():
        exact = np.arctan2(g_row[near].astype(np.float64), g_col[near].astype(np.float64)) * (180 / np.pi) % 180
        edges = np.array([width * i for i in range(1, n_bins)])
        bins[near] = np.searchsorted(edges, exact, side="right")
    return bins


class HOGTransformer(_ImageTransformer):
    """Histograms of oriented gradients in non-overlapping blocks (Dalal & Triggs 2005; RAF-DB §5).

    Unsigned gradient orientations (0–180°) vote with their magnitude into ``orientations``
    equal bins of each ``cell_size``-pixel cell (no interpolation between bins or cells; the
    cell sum is divided by the cell area, as scikit-image does); each block of
    ``cells_per_block``² cells is L2-Hys normalized. Blocks tile the image without overlap, so a
    100×100 face gives 10×10 blocks × 4 cells × 10 bins = 4,000 values — scikit-image's
    ``hog(pixels_per_cell=(5, 5), cells_per_block=(2, 2), orientations=10)`` keeping every
    other block in each direction (tested).
    """

    def __init__(self, orientations=10, cell_size=5, cells_per_block=2, batch_size=32, dtype="float32"):
        self.orientations = orientations
        self.cell_size = cell_size
        self.cells_per_block = cells_per_block
        self.batch_size = batch_size
        self.dtype = dtype

    def _check_shape(self, shape):
        _check_divisible(shape, self.cell_size * self.cells_per_block, "HOG block size")

    def _transform_batch(self, images):
        n, height, width = images.shape
        g_row, g_col = image_gradients(images.astype(np.float32, copy=False))
        magnitude = np.sqrt(g_col * g_col + g_row * g_row)
        bins = orientation_bins(g_row, g_col, self.orientations)
        cs, b, k = self.cell_size, self.cells_per_block, self.orientations
        gy, gx = height // cs, width // cs
        cell = (np.arange(height)[:, None] // cs) * gx + (np.arange(width)[None, :] // cs)
        index = (np.arange(n)[:, None, None] * (gy * gx) + cell[None]) * k + bins
        hist = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=n * gy * gx * k)
        hist = hist.reshape(n, gy // b, b, gx // b, b, k) / float(cs * cs)
        blocks = hist.transpose(0, 1, 3, 2, 4, 5)
        blocks = l2_hys(blocks, axis=(3, 4, 5))
        return blocks.reshape(n, -1)


# ---------------------------------------------------------------------------------------------
# Gabor
# ---------------------------------------------------------------------------------------------


def gabor_bank(n_scales=5, n_orientations=8, max_frequency=0.25, scale_step=math.sqrt(2), bandwidth=1.0):
    """The face-analysis Gabor bank (Liu & Wechsler 2002) as scikit-image ``gabor_kernel`` s.

    Scale ``ν`` has spatial frequency ``f_ν = max_frequency / scale_step**ν`` (cycles/pixel;
    ``k_max = π/2``, ``f = √2`` in Liu & Wechsler's notation) and orientation ``μ`` the angle
    ``μπ/n_orientations``. Returns ``[(frequency, theta, kernel)]``, scale-major.
    """
    bank = []
    for nu in range(n_scales):
        frequency = max_frequency / scale_step**nu
        for mu in range(n_orientations):
            theta = mu * np.pi / n_orientations
            bank.append((frequency, theta, gabor_kernel(frequency, theta=theta, bandwidth=bandwidth)))
    return bank


class GaborTransformer(_ImageTransformer):
    """Magnitudes of 40 Gabor responses (5 scales × 8 orientations), averaged down to 10×10.

    RAF-DB §5: "a bank of 40 Gabor filters at five spatial scales and eight orientations. The
    downsample image's size was set to 10*10, yielding 4000-dimensional features". Responses are
    the convolution with scikit-image's complex ``gabor_kernel`` (image borders mirrored, as
    ``skimage.filters.gabor``'s default ``mode="reflect"``), computed for the whole batch and all
    orientations of a scale with one FFT; the magnitude ``|real + i·imag|`` is averaged over
    non-overlapping ``H/grid × W/grid`` windows. Output order: scale, orientation, row, column.
    """

    def __init__(self, n_scales=5, n_orientations=8, max_frequency=0.25, bandwidth=1.0, grid=10,
                 batch_size=64, dtype="float32"):
        self.n_scales = n_scales
        self.n_orientations = n_orientations
        self.max_frequency = max_frequency
        self.bandwidth = bandwidth
        self.grid = grid
        self.batch_size = batch_size
        self.dtype = dtype

    def _check_shape(self, shape):
        if shape[0] % self.grid or shape[1] % self.grid:
            raise ValueError(f"image size {shape[0]}×{shape[1]} is not a multiple of grid={self.grid}")

    def _kernel_spectra(self, shape):
        """FFT of each scale's kernels at the FFT size that scale needs, cached per image shape."""
        cache = getattr(self, "_spectra_cache", None)
        if cache is not None and cache[0] == shape:
            return cache[1]
        height, width = shape
        bank = gabor_bank(self.n_scales, self.n_orientations, self.max_frequency, bandwidth=self.bandwidth)
        scales = []
        for nu in range(self.n_scales):
            kernels = [k for _, _, k in bank[nu * self.n_orientations:(nu + 1) * self.n_orientations]]
            half_r = max(k.shape[0] for k in kernels) // 2
            half_c = max(k.shape[1] for k in kernels) // 2
            size = (scipy.fft.next_fast_len(height + 2 * half_r), scipy.fft.next_fast_len(width + 2 * half_c))
            stack = np.zeros((len(kernels), 2 * half_r + 1, 2 * half_c + 1), dtype=np.complex128)
            for i, k in enumerate(kernels):
                dr, dc = half_r - k.shape[0] // 2, half_c - k.shape[1] // 2
                stack[i, dr:dr + k.shape[0], dc:dc + k.shape[1]] = k
            spectrum = scipy.fft.fft2(stack.astype(np.complex64), s=size)
            scales.append((half_r, half_c, size, spectrum))
        self._spectra_cache = (shape, scales)
        return scales

    def _transform_batch(self, images):
        n, height, width = images.shape
        pool_r, pool_c = height // self.grid, width // self.grid
        out = []
        for half_r, half_c, size, spectrum in self._kernel_spectra((height, width)):
            padded = _padded(images, half_r, half_c, np.float32, mode="symmetric")
            image_spectrum = scipy.fft.fft2(padded, s=size)
            response = scipy.fft.ifft2(image_spectrum[:, None] * spectrum[None], axes=(-2, -1))
            valid = response[..., 2 * half_r:2 * half_r + height, 2 * half_c:2 * half_c + width]
            magnitude = np.abs(valid)
            pooled = magnitude.reshape(n, -1, self.grid, pool_r, self.grid, pool_c).mean(axis=(3, 5))
            out.append(pooled.reshape(n, -1))
        return np.concatenate(out, axis=1)


FEATURES = {"lbp": LBPTransformer, "hog": HOGTransformer, "gabor": GaborTransformer}
"""The three descriptors by name, as the chapters and results keys spell them."""


def make_features(name: str, **params):
    """A descriptor transformer by name (``"lbp"``, ``"hog"`` or ``"gabor"``)."""
    try:
        return FEATURES[name](**params)
    except KeyError:
        raise ValueError(f"unknown feature {name!r}; choose one of {sorted(FEATURES)}") from None
