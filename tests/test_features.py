import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skimage.feature import hog, local_binary_pattern
from skimage.filters import gabor
from skimage.transform import downscale_local_mean

from fercore import features


def _faces(n=6, size=100, seed=0):
    """Images that exercise the tricky cases: random, flat, few grey levels, smooth ramps."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size)).astype(np.uint8)
    images[0] = 128
    images[1, : size // 2] = 10
    images[2] = rng.integers(0, 3, (size, size)) * 50
    images[3] = np.clip(np.cumsum(rng.integers(-1, 2, (size, size)), axis=1) + 100, 0, 255)
    return images


def test_nri_uniform_lut_has_59_codes():
    lut = features.nri_uniform_lut(8)
    assert lut.shape == (256,)
    assert sorted(np.unique(lut)) == list(range(59))
    assert lut[0] == 0 and lut[255] == 57 and lut[0b01010101] == 58


def _skimage_lbp(images, n_points=8, radius=2.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-image warns on float images
        return np.stack([local_binary_pattern(im, n_points, radius, method="nri_uniform") for im in images])


# (6, 1.0162): the offsets' 5-decimal rounding would change with R rounded to float32
@pytest.mark.parametrize("n_points,radius", [(8, 2.0), (8, 1.0), (4, 1.0), (16, 2.0), (8, 1.5), (6, 1.0162)])
def test_lbp_codes_equal_scikit_image(n_points, radius):
    images = _faces()
    np.testing.assert_array_equal(features.lbp_codes(images, n_points, radius), _skimage_lbp(images, n_points, radius))


def test_lbp_codes_equal_scikit_image_on_float_images():
    images = _faces().astype(np.float64) / 255.0
    np.testing.assert_array_equal(features.lbp_codes(images), _skimage_lbp(images))


@pytest.mark.parametrize("convert", [
    lambda im: im.astype(np.float32) / 7,
    lambda im: im.astype(np.int16) - 300,
    lambda im: im[:, ::-1, 1:],  # not contiguous, not square
], ids=["float32", "int16", "strided"])
def test_lbp_codes_equal_scikit_image_on_other_inputs(convert):
    images = convert(_faces(n=4))
    np.testing.assert_array_equal(features.lbp_codes(images), _skimage_lbp(images))


def test_lbp_transformer_equals_scikit_image_cell_histograms():
    images = _faces()
    codes = _skimage_lbp(images).astype(np.int64)
    cells = codes.reshape(len(images), 10, 10, 10, 10).transpose(0, 1, 3, 2, 4).reshape(len(images), 100, 100)
    ref = np.stack([[np.bincount(cell, minlength=59) for cell in face] for face in cells]) / 100.0
    X = features.LBPTransformer(dtype="float64").fit_transform(images)
    np.testing.assert_array_equal(X, ref.reshape(len(images), 5900))


def test_lbp_transformer_histograms():
    images = _faces()
    X = features.LBPTransformer().fit_transform(images)
    assert X.shape == (len(images), 5900) and X.dtype == np.float32
    np.testing.assert_allclose(X.reshape(len(images), 100, 59).sum(axis=2), 1.0, rtol=1e-6)
    codes = features.lbp_codes(images[:1])[0]
    cell = codes[10:20, 30:40]  # cell (1, 3) → index 13
    np.testing.assert_allclose(X[0].reshape(100, 59)[13], np.bincount(cell.ravel(), minlength=59) / 100)


def test_hog_equals_scikit_image_without_block_overlap():
    images = _faces()
    X = features.HOGTransformer(dtype="float64").fit_transform(images)
    ref = np.stack([
        hog(im, orientations=10, pixels_per_cell=(5, 5), cells_per_block=(2, 2), block_norm="L2-Hys",
            feature_vector=False)[::2, ::2].ravel()
        for im in images
    ])
    assert X.shape == (len(images), 4000)
    np.testing.assert_allclose(X, ref, atol=1e-6)


def test_orientation_bins_at_edges():
    g_row = np.array([[0.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0]])
    g_col = np.array([[1.0, 0.0, 0.0, 1.0, 1.0, -1.0, 0.0]])  # 0°, 90°, −90°≡90°, 45°, 135°, 180°≡0°, none
    expected = np.searchsorted(np.arange(18, 180, 18.0), np.arctan2(g_row, g_col) * (180 / np.pi) % 180, side="right")
    np.testing.assert_array_equal(features.orientation_bins(g_row, g_col, 10), expected)
    np.testing.assert_array_equal(expected, [[0, 5, 5, 2, 7, 0, 0]])


def test_gabor_equals_scikit_image_filters():
    images = _faces()[2:4].astype(np.float64) / 255.0
    transformer = features.GaborTransformer(n_scales=2, n_orientations=3, dtype="float64")
    X = transformer.fit_transform(images)
    assert X.shape == (2, 2 * 3 * 100)
    ref = []
    for image in images:
        maps = []
        for frequency, theta, _ in features.gabor_bank(2, 3):
            real, imag = gabor(image, frequency, theta=theta, bandwidth=1.0)
            maps.append(downscale_local_mean(np.hypot(real, imag), (10, 10)))
        ref.append(np.stack(maps).ravel())
    np.testing.assert_allclose(X, np.stack(ref), rtol=1e-4, atol=1e-6)


def test_gabor_full_bank_shape():
    X = features.GaborTransformer().fit_transform(_faces()[:2])
    assert X.shape == (2, 4000) and np.isfinite(X).all()


def test_batches_do_not_change_results():
    images = _faces(n=5)
    for name in features.FEATURES:
        a = features.make_features(name, batch_size=2).fit_transform(images)
        b = features.make_features(name, batch_size=5).fit_transform(images)
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_transformers_are_sklearn_estimators():
    pipe = make_pipeline(features.HOGTransformer(), StandardScaler())
    out = clone(pipe).fit(_faces()).transform(_faces())
    assert out.shape == (6, 4000)
    assert features.LBPTransformer(radius=1.0).get_params()["radius"] == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(n, height, width\)"):
        features.LBPTransformer().fit_transform(np.zeros((100, 100)))
    with pytest.raises(ValueError, match="multiple"):
        features.HOGTransformer().fit_transform(np.zeros((2, 98, 98)))
    with pytest.raises(ValueError, match="NaN"):
        features.GaborTransformer().fit_transform(np.full((1, 100, 100), np.nan))
    with pytest.raises(ValueError, match="dtype"):
        features.HOGTransformer(dtype="float16").fit_transform(_faces())
    with pytest.raises(ValueError, match="n_points"):
        features.LBPTransformer(n_points=40).fit_transform(_faces())
    with pytest.raises(ValueError, match="radius"):
        features.lbp_codes(_faces(), radius=0)
    with pytest.raises(ValueError, match="unknown feature"):
        features.make_features("sift")
