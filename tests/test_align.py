"""Tests of fercore.align: the RAF template, the least-squares similarity, face alignment."""

import numpy as np
import pytest
from skimage import transform as sktf

from fercore.align import (RAF_TEMPLATE, align_face, apply_transform, similarity_transform,
                           template, template_points, warp_affine)


def _similarity(scale, angle, tx, ty):
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


# a face whose eyes and mouth centre sit exactly on the template
ALIGNED_LANDMARKS = np.array([[20.0, 30.0], [80.0, 30.0], [50.0, 55.0], [36.0, 75.0], [64.0, 75.0]])


def test_template_scales_with_size():
    assert np.array_equal(template(100), RAF_TEMPLATE)
    for size in (48, 112, 256):
        relative = (template(size) + 0.5) / size
        np.testing.assert_allclose(relative, (RAF_TEMPLATE + 0.5) / 100)


def test_template_points_are_eyes_and_mouth_centre():
    np.testing.assert_allclose(template_points(ALIGNED_LANDMARKS), RAF_TEMPLATE)


def test_similarity_recovers_hand_made_transform_exactly():
    matrix = _similarity(1.7, 0.4, -12.0, 33.5)
    src = np.array([[3.0, 4.0], [10.0, -2.0], [-5.0, 7.5], [0.0, 0.0]])
    dst = apply_transform(matrix, src)
    np.testing.assert_allclose(dst[0], [1.7 * (3 * np.cos(0.4) - 4 * np.sin(0.4)) - 12.0,
                                        1.7 * (3 * np.sin(0.4) + 4 * np.cos(0.4)) + 33.5])
    np.testing.assert_allclose(similarity_transform(src, dst), matrix, atol=1e-12)


def test_similarity_matches_skimage_least_squares():
    rng = np.random.default_rng(0)
    for _ in range(5):
        src = rng.normal(size=(5, 2)) * 30
        dst = apply_transform(_similarity(0.8, -1.1, 5, 9), src) + rng.normal(size=(5, 2))
        reference = sktf.SimilarityTransform.from_estimate(src, dst)
        assert reference
        np.testing.assert_allclose(similarity_transform(src, dst), reference.params[:2], atol=1e-9)


def test_similarity_never_reflects():
    src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mirrored = src * [-1, 1]
    matrix = similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0
    reference = sktf.SimilarityTransform.from_estimate(src, mirrored)
    np.testing.assert_allclose(matrix, reference.params[:2], atol=1e-12)


def test_similarity_is_batched():
    rng = np.random.default_rng(1)
    src, dst = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 2))
    batched = similarity_transform(src, dst)
    assert batched.shape == (4, 2, 3)
    for k in range(4):
        np.testing.assert_allclose(batched[k], similarity_transform(src[k], dst[k]))


def _raw_face(matrix, shape=(160, 200)):
    """An image with Gaussian dots at the landmarks of ALIGNED_LANDMARKS mapped by ``matrix``."""
    landmarks = apply_transform(matrix, ALIGNED_LANDMARKS)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.zeros(shape)
    for x, y in landmarks:
        image += 255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))
    return np.clip(image, 0, 255).astype(np.uint8), landmarks


def test_align_face_puts_landmarks_on_template():
    raw, landmarks = _raw_face(_similarity(1.3, 0.35, 60.0, 10.0))
    aligned, moved = align_face(raw, landmarks)
    assert aligned.shape == (100, 100) and aligned.dtype == np.uint8
    np.testing.assert_allclose(moved, ALIGNED_LANDMARKS, atol=1e-9)
    for x, y in RAF_TEMPLATE[:2]:          # the eye dots landed on the template's eye points
        window = aligned[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4]
        peak = np.unravel_index(window.argmax(), window.shape)
        assert abs(peak[0] - 3) <= 1 and abs(peak[1] - 3) <= 1


@pytest.mark.parametrize("size", [48, 112])
def test_align_face_other_sizes(size):
    raw, landmarks = _raw_face(_similarity(0.9, -0.2, 40.0, 50.0))
    aligned, moved = align_face(raw, landmarks, size=size)
    assert aligned.shape == (size, size)
    np.testing.assert_allclose(template_points(moved), template(size), atol=1e-9)


def test_warp_matches_skimage_warp():
    rng = np.random.default_rng(2)
    image = (rng.random((80, 90)) * 255).astype(np.uint8)
    matrix = _similarity(1.2, 0.3, -10.0, 5.0)
    ours = warp_affine(image.astype(np.float64), matrix, 70)
    inverse = sktf.SimilarityTransform(matrix=np.vstack([matrix, [0, 0, 1]])).inverse
    reference = sktf.warp(image.astype(np.float64), inverse, output_shape=(70, 70), order=1,
                          mode="constant", cval=0, preserve_range=True)
    yy, xx = np.mgrid[0:70, 0:70]
    source = inverse(np.stack([xx.ravel(), yy.ravel()], axis=1)).reshape(70, 70, 2)
    interior = (source.min(axis=2) >= 1) & (source[..., 0] <= 88) & (source[..., 1] <= 78)
    assert interior.mean() > 0.5
    np.testing.assert_allclose(ours[interior], reference[interior], atol=1e-3)


def test_align_face_colour_image():
    raw, landmarks = _raw_face(_similarity(1.0, 0.1, 50.0, 20.0))
    colour = np.stack([raw, raw // 2, raw // 3], axis=-1)
    aligned, _ = align_face(colour, landmarks)
    assert aligned.shape == (100, 100, 3)
    np.testing.assert_array_equal(aligned[..., 0], align_face(raw, landmarks)[0])


def test_bad_inputs_raise():
    image = np.zeros((50, 50), np.uint8)
    with pytest.raises(ValueError, match="landmarks5"):
        align_face(image, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        align_face(image, np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="image"):
        align_face(np.zeros((2, 3, 4, 5)), ALIGNED_LANDMARKS)
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(np.ones((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="does not match"):
        similarity_transform(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="size"):
        template(4)
