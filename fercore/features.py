"""Handcrafted face descriptors (LBP, HOG, Gabor) as scikit-learn transformers over image batches.

The three descriptors of the RAF papers' baselines (RAF-DB §5; RAF-ML §6.3.1), computed on
aligned 100×100 grayscale faces:

* :class:`LBPTransformer` — 59-bin uniform ``LBP_{8,2}^{u2}`` histograms of 10×10-pixel cells
  (5,900-d); the codes equal scikit-image's ``local_binary_pattern(P=8, R=2, "nri_uniform")``.
* :class:`HOGTransformer` — 10×10-pixel blocks of four 5×5-pixel cells, no overlap, 10
  orientation bins (4,000-d); equal to scikit-image's ``hog`` keeping every other block.
* :class:`GaborTransformer` — 40 Gabor filters (5 scales × 8 orientations), response magnitudes
  averaged down to 10×10 (4,000-d); the kernels are scikit-image's ``gabor_kernel``.

Each transformer takes an array ``(n, H, W)`` (uint8 or float) and works on whole batches with
NumPy/FFT array operations — no Python loop over images.
"""

import math
import sys

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

    def transform(self, X):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}")
        images = as_image_batch(X)
        self._check_shape(images.shape[1:])
        parts = [self._transform_batch(images[s]) for s in _batches(len(images), self.batch_size)]
        return np.concatenate(parts).astype(self.dtype)

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


def _bilinear_samples(padded, pad, k, rows, cols, row_offset, col_offset):
    """scikit-image's ``bilinear_interpolation`` (mode 'C', cval 0) at (rows+dr, cols+dc) of
    images ``k``, operation for operation in float64 (rows, cols, k: equal-length index arrays)."""
    r = rows.astype(np.float64) + row_offset
    c = cols.astype(np.float64) + col_offset
    r_lo, r_hi = np.floor(r), np.ceil(r)
    c_lo, c_hi = np.floor(c), np.ceil(c)
    dr, dc = r - r_lo, c - c_lo
    r_lo, r_hi = r_lo.astype(np.int64) + pad, r_hi.astype(np.int64) + pad
    c_lo, c_hi = c_lo.astype(np.int64) + pad, c_hi.astype(np.int64) + pad
    flat = padded.reshape(-1)  # one 1-D take per corner is much cheaper than 3-D fancy indexing
    _, padded_h, padded_w = padded.shape
    base = k * (padded_h * padded_w)

    def pixel(r, c):
        return flat.take(base + r * padded_w + c).astype(np.float64)

    top = (1 - dc) * pixel(r_lo, c_lo) + dc * pixel(r_lo, c_hi)
    bottom = (1 - dc) * pixel(r_hi, c_lo) + dc * pixel(r_hi, c_hi)
    return (1 - dr) * top + dr * bottom


def lbp_codes(images, n_points: int = 8, radius: float = 2.0) -> np.ndarray:
    """Uniform LBP code of every pixel of a batch ``(n, H, W)`` → int array ``(n, H, W)``.

    Ojala et al. (2002): the ``n_points`` neighbours on a circle of ``radius`` (bilinear
    interpolation, zeros outside the image) are thresholded at the centre pixel
    (``neighbour − centre ≥ 0``) and the bit pattern is mapped by :func:`nri_uniform_lut`.

    Fast path: each distinct fractional offset is interpolated once per batch in float32
    (separably: a horizontal pass over all rows, then a vertical one). Where a float32
    difference to the centre is too small to trust its sign, the pixel's interpolated bits are
    recomputed exactly as scikit-image's ``local_binary_pattern(..., method="nri_uniform")``
    does (its float64 formula with position-dependent weights), so the codes are identical
    (tested).
    """
    images = as_image_batch(images)
    n, height, width = images.shape
    angles = 2 * np.pi * np.arange(n_points, dtype=np.float64) / n_points
    row_offsets = np.round(-radius * np.sin(angles), 5)
    col_offsets = np.round(radius * np.cos(angles), 5)
    pad = int(math.ceil(radius)) + 1
    padded = _padded(images, pad, pad, np.float32)
    centre = padded[:, pad:pad + height, pad:pad + width]
    tol = np.float32(2.0**-18 * max(1.0, float(np.abs(images).max())))
    bits = np.empty((n, height, width, n_points), dtype=bool)
    closest = np.full((n, height, width), np.inf, dtype=np.float32)
    diff = np.empty((n, height, width), dtype=np.float32)
    horizontal, interpolated = {}, []
    for bit, (row_offset, col_offset) in enumerate(zip(row_offsets, col_offsets)):
        r0, c0 = int(np.floor(row_offset)), int(np.floor(col_offset))
        fr, fc = float(row_offset - r0), float(col_offset - c0)
        rows = slice(pad + r0, pad + r0 + height)
        cols = slice(pad + c0, pad + c0 + width)
        if fr == 0 and fc == 0:
            np.greater_equal(padded[:, rows, cols], centre, out=bits[..., bit])
            continue
        interpolated.append(bit)
        if fc not in horizontal:
            h = padded[:, :, :-1] * np.float32(1 - fc)
            h += padded[:, :, 1:] * np.float32(fc)
            horizontal[fc] = h
        h = horizontal[fc]
        np.multiply(h[:, rows, cols], np.float32(1 - fr), out=diff)
        diff += h[:, pad + r0 + 1:pad + r0 + 1 + height, cols] * np.float32(fr)
        diff -= centre
        np.greater_equal(diff, 0, out=bits[..., bit])
        np.minimum(closest, np.abs(diff, out=diff), out=closest)
    k, rr, cc = np.nonzero(closest < tol)
    if len(k):
        # float32 holds small integers exactly; other images are re-padded in float64
        exact_int = np.issubdtype(images.dtype, np.integer) and images.dtype.itemsize <= 2
        source = padded if exact_int else _padded(images, pad, pad, np.float64)
        centre_values = images[k, rr, cc].astype(np.float64)
        for bit in interpolated:
            value = _bilinear_samples(source, pad, k, rr, cc, row_offsets[bit], col_offsets[bit])
            bits[k, rr, cc, bit] = value - centre_values >= 0
    if n_points == 8 and sys.byteorder == "little":
        # eight 0/1 bytes per pixel read as one uint64; the multiply gathers byte i's bit into
        # bit 56+i (no carries), so the top byte is the pattern with bit i = neighbour i
        packed = ((bits.view(np.uint64)[..., 0] * np.uint64(0x0102040810204080)) >> np.uint64(56)).astype(np.uint8)
    else:
        packed = (bits * (1 << np.arange(n_points, dtype=np.int64))).sum(axis=-1)
    return nri_uniform_lut(n_points)[packed]


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
    batch_size : images processed at once (bounds memory).
    dtype : ``"float32"`` or ``"float64"`` output.

    Each cell's histogram is divided by the number of pixels in the cell (frequencies summing
    to 1), so the output for 100×100 faces is 100 cells × 59 bins = 5,900 values.
    """

    def __init__(self, n_points=8, radius=2.0, cell_size=10, batch_size=16, dtype="float32"):
        self.n_points = n_points
        self.radius = radius
        self.cell_size = cell_size
        self.batch_size = batch_size
        self.dtype = dtype

    def _check_shape(self, shape):
        _check_divisible(shape, self.cell_size, "LBP cell size")

    def _transform_batch(self, images):
        codes = lbp_codes(images, self.n_points, self.radius)
        n_bins = self.n_points * (self.n_points - 1) + 3
        hist = cell_histograms(codes, self.cell_size, n_bins)
        return (hist / float(self.cell_size**2)).reshape(len(images), -1)


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
