"""Tests that the synthetic faces carry the FACS cues of their expressions, put their landmarks
where real annotators and detectors do, and of the realism measurements."""

import importlib.util

import numpy as np
import pytest

from fercore.labels import AUS, BASIC7
from fercore.synth import load_face_model, render_faces, sample_identities, sample_nuisance
from fercore.synth import mesh as M
from fercore.synth.expressions import (EXPRESSIONS, RAF_AU_OCCURRENCE, UNCODED_WILD_OCCURRENCE, prototype_matrix,
                                       wild_occurrence)
from fercore.synth.realism import (EYE_OPENING_MM, INTERPUPILLARY_MM, MID_BROW, blind_set, brow_and_lid_motion,
                                   expression_faces, mtcnn_agreement, turn_drift, unmirror)

AU = {au: k for k, au in enumerate(AUS)}
INNER_BROW = (55, 285)          # brow heads (MediaPipe), image-left then image-right
OUTER_BROW = (46, 276)          # brow tails
UPPER_LID = (159, 386)
LOWER_LID = (145, 374)
CORNERS = (M.MOUTH_LEFT, M.MOUTH_RIGHT)


def _prototypes() -> dict:
    """Each expression's prototype as {AU: intensity}."""
    table = prototype_matrix()
    return {e: {au: v for au, v in zip(AUS, table[EXPRESSIONS.index(e)]) if v} for e in EXPRESSIONS}


def _rest_and_moved(aus: dict):
    """The expression mesh (478, 3) with no AU and with ``aus`` ({AU: intensity})."""
    row = np.zeros((1, len(AUS)), np.float32)
    for au, value in aus.items():
        row[0, AU[au]] = value
    model = load_face_model()
    return tuple(model.expression_mesh(a)[0] for a in (np.zeros_like(row), row))


def _moves(aus: dict):
    """Displacement (478, 3) of the expression mesh from rest, in inter-ocular distances."""
    rest = load_face_model().rest
    iod = np.linalg.norm(rest[list(M.RIGHT_EYE_CORNERS)].mean(0) - rest[list(M.LEFT_EYE_CORNERS)].mean(0))
    return (_rest_and_moved(aus)[1] - rest) / iod


def _up(move, vertices):
    return move[list(vertices), 1].mean()


def test_brow_actions_have_their_facs_shapes():
    au1, au2, au4 = _moves({1: 1}), _moves({2: 1}), _moves({4: 1})
    assert _up(au1, INNER_BROW) > 0.08 and _up(au1, INNER_BROW) > 2 * _up(au1, OUTER_BROW)
    assert _up(au2, OUTER_BROW) > 0.08 and _up(au2, OUTER_BROW) > 2 * _up(au2, INNER_BROW)
    assert _up(au4, INNER_BROW) < -0.04
    # ... the heads more than the tails: the knitted V of anger, not a level brow
    assert _up(au4, INNER_BROW) < 1.3 * _up(au4, OUTER_BROW)
    # AU4 pulls the brow heads together (x grows to the image's right)
    assert au4[INNER_BROW[0], 0] > 0.02 and au4[INNER_BROW[1], 0] < -0.02
    # sadness' 1+4: inner corners up, tails down (oblique brows)
    sad = _moves({1: 1.0, 4: 0.8})
    assert _up(sad, INNER_BROW) > 0.04 and _up(sad, OUTER_BROW) < 0


def test_lid_cheek_and_mouth_actions_move_the_right_way():
    assert _up(_moves({5: 1}), UPPER_LID) > 0.04               # sclera shows above the iris
    assert _up(_moves({7: 1}), LOWER_LID) > 0.02               # lids tighten
    assert _up(_moves({6: 1}), LOWER_LID) > 0.02               # cheeks push the lower lids up
    assert _up(_moves({12: 1}), CORNERS) > 0.06                # smile: corners up
    assert _up(_moves({15: 1}), CORNERS) < -0.06               # corners down
    stretch = _moves({20: 1})
    assert stretch[M.MOUTH_LEFT, 0] < -0.08 and stretch[M.MOUTH_RIGHT, 0] > 0.08
    assert _up(_moves({10: 1}), M.UPPER_OUTER_LIP[3:8]) > 0.05  # upper lip raised
    chin_raise = _moves({17: 1})
    assert _up(chin_raise, (152, 175, 199)) > 0.03               # chin boss up
    # ... and the lower lip with it, its centre more than the corners (FACS: an inverted-U mouth),
    # without narrowing the mouth as py-feat's regression did
    assert chin_raise[M.LOWER_OUTER_LIP[5], 1] > _up(chin_raise, CORNERS) + 0.1
    assert abs(chin_raise[M.MOUTH_RIGHT, 0] - chin_raise[M.MOUTH_LEFT, 0]) < 0.01


def _eye_opening(aus: dict) -> float:
    """Mean height of the eye openings (upper minus lower lid) relative to the rest face."""
    rest, moved = _rest_and_moved(aus)
    opening = lambda v: v[UPPER_LID, 1].mean() - v[LOWER_LID, 1].mean()   # noqa: E731
    return opening(moved) / opening(rest)


def test_eye_openings_follow_the_expression():
    proto = _prototypes()
    assert 0.3 < _eye_opening({7: 1}) < 0.7              # lids tightened, the eye still open
    assert _eye_opening(proto["anger"]) > 0.6             # 4+5+7 glares rather than shuts
    strong_anger = {au: 1.5 * v for au, v in proto["anger"].items()}
    assert _eye_opening(strong_anger) > 0.5               # and still shows the eyes when strong
    assert _eye_opening(proto["surprise"]) > _eye_opening(proto["fear"]) + 0.2 > 1.3
    assert 0.45 < _eye_opening(proto["sadness"]) < 0.75   # drooping upper lids (low AU43), not shut
    assert _eye_opening(proto["happiness"]) < 0.8         # cheeks push the lower lids up


def test_eyes_look_down_with_sadness_and_pupils_follow_the_gaze():
    from fercore.synth.render import EYE_RADIUS, GAZE_DOWN_PER_AU43, MAX_GAZE_DOWN, eye_gaze, face_geometry

    rng = np.random.default_rng(0)
    person = sample_identities(1, rng)
    sad = np.zeros((3, len(AUS)), np.float32)
    sad[1:, AUS.index(43)] = _prototypes()["sadness"][43], 1.0
    nuisance = sample_nuisance("lab", 3, rng)
    nuisance.yaw[:], nuisance.pitch[:], nuisance.roll[:] = 0, 0, 0
    nuisance.gaze[:] = [[0, 0], [0, 0], [5, 0]]
    gaze = eye_gaze(sad, nuisance)
    np.testing.assert_allclose(gaze[:, 1], [0, GAZE_DOWN_PER_AU43 * 0.4, MAX_GAZE_DOWN])     # 20° at the prototype
    np.testing.assert_allclose(gaze[:, 0], [0, 0, 5])
    persons = person[np.zeros(3, int)]
    still = np.zeros_like(sad)
    looking = face_geometry(still, persons, nuisance)[1]
    nuisance.gaze[:] = [[0, 20], [0, 0], [0, 0]]
    down = face_geometry(still, persons, nuisance)[1] - looking
    # a 20° turn moves each pupil down by the eye's radius × sin 20° (y down, inter-ocular distances)
    np.testing.assert_allclose(down[0, :2, 1], EYE_RADIUS * np.sin(np.deg2rad(20)), rtol=0.02)
    np.testing.assert_allclose(down[0, :2, 0], 0, atol=1e-6)
    np.testing.assert_allclose(down[0, 2:], 0, atol=1e-6)                 # nose and mouth stay
    nuisance.gaze[:] = 0
    drawn_sad = face_geometry(sad, persons, nuisance)[1]
    assert (drawn_sad[1, :2, 1] - drawn_sad[0, :2, 1] > 0.04).all()          # sad eyes look down


def test_sadness_bows_the_head_and_the_truth_records_it():
    from fercore.synth.render import HEAD_BOW_PER_AU43, face_geometry, head_pitch
    from fercore.synth.writers import truth_table

    rng = np.random.default_rng(0)
    persons = sample_identities(1, rng)[np.zeros(3, int)]
    sad = np.zeros((3, len(AUS)), np.float32)
    sad[1:, AUS.index(43)] = _prototypes()["sadness"][43], 1.5            # clipped at 1
    nuisance = sample_nuisance("lab", 3, rng)
    nuisance.yaw[:], nuisance.roll[:], nuisance.gaze[:] = 0, 0, 0
    nuisance.pitch[:] = [3, 3, 3]
    np.testing.assert_allclose(head_pitch(sad, nuisance), [3, 3 - HEAD_BOW_PER_AU43 * 0.4, 3 - HEAD_BOW_PER_AU43])
    # the bow is a turn of the whole head: the mouth lands where the same pitch puts it on a face
    # without the lid droop, and the nose nearly (py-feat's AU43 moves it by 0.002 IOD)
    bowed = face_geometry(sad, persons, nuisance)[1]
    nuisance.pitch[:] = head_pitch(sad, nuisance)
    turned = face_geometry(np.zeros_like(sad), persons, nuisance)[1]
    np.testing.assert_allclose(bowed[:, 3:], turned[:, 3:], atol=1e-5)
    np.testing.assert_allclose(bowed[:, 2], turned[:, 2], atol=0.005)
    assert bowed[2, 2, 1] - bowed[2, 0:2, 1].mean() > bowed[0, 2, 1] - bowed[0, 0:2, 1].mean()   # nose tip drops
    nuisance.pitch[:] = 3
    table = truth_table(["a", "b", "c"], "lab", [0, 0, 0], sad, np.zeros((3, len(EXPRESSIONS))), nuisance,
                        ["sadness"] * 3)
    np.testing.assert_allclose(table["pitch"], np.round(head_pitch(sad, nuisance), 2))


def test_posed_faces_look_into_the_camera_and_wild_ones_near_it():
    rng = np.random.default_rng(1)
    lab, wild = sample_nuisance("lab", 3000, rng), sample_nuisance("wild", 3000, rng)
    assert lab.gaze.shape == (3000, 2) and np.abs(wild.gaze).max() <= 20
    assert (lab.gaze == 0).all() and 4 < wild.gaze.std(axis=0).min() < wild.gaze.std(axis=0).max() < 8


def _mouth_width(aus: dict) -> float:
    """Distance between the lip corners relative to the rest face."""
    rest, moved = _rest_and_moved(aus)
    width = lambda v: np.linalg.norm(v[M.MOUTH_RIGHT, :2] - v[M.MOUTH_LEFT, :2])   # noqa: E731
    return width(moved) / width(rest)


def test_mouth_widths_stay_those_of_real_faces():
    """A posed smile widens the mouth by about a quarter and pressed lips narrow it by about a
    seventh; wider and narrower mouths are read by a real-face detector as ordinary ones. A jaw
    drop leaves the lips relaxed: the open mouth keeps nearly its width (not surprise's O)."""
    proto = _prototypes()
    assert 0.93 < _mouth_width({26: 1}) < 1.0
    assert 0.93 < _mouth_width(proto["surprise"]) < 1.0
    assert 1.1 < _mouth_width(proto["happiness"]) < 1.35
    assert 0.8 < _mouth_width(proto["anger"]) < 0.95
    assert _mouth_width(proto["fear"]) > 1.15            # AU20 stretches the lips sideways


def test_au5_raises_the_upper_lid_only():
    move = _moves({5: 1})
    assert 0.04 < _up(move, UPPER_LID) < 0.06                  # about 3 mm: sclera above the iris
    assert abs(_up(move, LOWER_LID)) < 0.01                    # the lower lid stays
    assert abs(_up(move, INNER_BROW + OUTER_BROW)) < 0.01      # brows are AU1 and AU2's


def test_eyes_open_as_far_as_real_eyes_do():
    """At rest the drawn eye is as open as an adult's; AU5 and surprise open it wider, short of the
    lid retraction of thyroid eye disease. The brows are measured the same way (mid-brow rise)."""
    drawn = brow_and_lid_motion()["drawn (mm)"]
    (rest_low, rest_high), (retracted, _) = EYE_OPENING_MM.values()
    assert rest_low <= drawn["eye opening at rest"] <= rest_high
    assert rest_high < drawn["eye opening, AU5 at 1"] < drawn["eye opening, surprise prototype"] < retracted
    np.testing.assert_allclose(drawn["brow raise, AU1+2 at 1 (surprise prototype)"],
                               _up(_moves({1: 1, 2: 1}), MID_BROW) * INTERPUPILLARY_MM, rtol=1e-4)


@pytest.mark.parametrize("au", AUS)
def test_the_irises_stay_between_the_eye_corners(au):
    """The eyeball does not move with the face's actions: each iris keeps its place relative
    to its eye's corners (py-feat's regression moves the irises with the lids)."""
    move = _moves({au: 1})
    for iris, corners in ((M.LEFT_IRIS, M.LEFT_EYE_CORNERS), (M.RIGHT_IRIS, M.RIGHT_EYE_CORNERS)):
        np.testing.assert_allclose(move[list(iris)], np.broadcast_to(move[list(corners)].mean(0), (5, 3)),
                                   atol=1e-5)


def test_the_upper_lash_line_is_darker_than_the_lower():
    from fercore.synth.render import LOWER_LASH, _assets

    lash, uv = _assets().features[..., 2], _assets().uv

    def darkness(vertices):
        u, v = np.clip((uv[list(vertices)] * lash.shape[0]).astype(int), 0, lash.shape[0] - 1).T
        return lash[v, u].mean()
    upper, lower = darkness(M.LEFT_EYE_RING[9:]), darkness(M.LEFT_EYE_RING[1:8])
    assert lower == pytest.approx(LOWER_LASH * upper, rel=0.35)


def test_the_eye_sockets_are_shaded():
    from fercore.synth.render import SOCKET_SHADOW, _assets

    shade, uv = _assets().features[..., 3], _assets().uv

    def darkening(vertices):
        u, v = np.clip((uv[list(vertices)] * shade.shape[0]).astype(int), 0, shade.shape[0] - 1).T
        return shade[v, u]
    for eye in (M.LEFT_EYE_RING, M.RIGHT_EYE_RING):
        assert darkening(eye).min() > 0.6 * SOCKET_SHADOW      # both lids, all round the eye
    for elsewhere in (M.LEFT_BROW, M.RIGHT_BROW, [M.NOSE_TIP, M.MOUTH_LEFT, M.MOUTH_RIGHT]):
        assert darkening(elsewhere).max() < 0.1


def test_fear_differs_from_surprise_and_sadness_from_neutral_in_geometry():
    table = prototype_matrix()
    proto = {e: dict(zip(AUS, table[EXPRESSIONS.index(e)])) for e in ("fear", "surprise", "sadness")}
    fear, surprise, sad = (_moves({k: v for k, v in proto[e].items() if v}) for e in ("fear", "surprise", "sadness"))
    width = lambda move: move[M.MOUTH_RIGHT, 0] - move[M.MOUTH_LEFT, 0]   # noqa: E731
    assert width(fear) > width(surprise) + 0.15                            # AU20 stretches the lips
    assert _up(fear, INNER_BROW) < _up(surprise, INNER_BROW) - 0.03         # AU4 holds the brows down
    assert _up(sad, CORNERS) < -0.05                                        # AU15


def test_wild_sadness_droops_the_lids_where_table_1_is_silent():
    sad = wild_occurrence()[EXPRESSIONS.index("sadness")]
    assert sad[AU[43]] == pytest.approx(UNCODED_WILD_OCCURRENCE["sadness"][43] / 100)
    assert 43 not in RAF_AU_OCCURRENCE["sadness"]                         # an assumption, not Table 1
    assert sad[AU[1]] == pytest.approx(0.88) and sad[AU[15]] == pytest.approx(0.21)


def test_wild_smiles_raise_the_cheeks():
    happy = wild_occurrence()[EXPRESSIONS.index("happiness")]
    assert happy[AU[6]] == pytest.approx(0.98) and happy[AU[7]] < 0.1


def test_eye_landmarks_are_the_pupils():
    rng = np.random.default_rng(0)
    ids = sample_identities(2, rng)
    nuisance = sample_nuisance("lab", 2, rng)
    nuisance.yaw[:], nuisance.pitch[:], nuisance.roll[:] = 0, 0, 0
    faces = render_faces(prototype_matrix()[[3, 6]], ids, nuisance, size=100)
    for image, points in zip(faces.aligned, faces.landmarks5.round().astype(int)):
        for x, y in points[:2]:                          # the pupil is the darkest spot of the eye
            patch = image[y - 4:y + 5, x - 4:x + 5].astype(int)
            assert patch[3:6, 3:6].min() == patch.min()


def _one_person_frontal(aus):
    """Faces of one lab identity with ``aus`` (n, 20), frontal and lit from the front."""
    rng = np.random.default_rng(1)
    ids = sample_identities(1, rng)
    nuisance = sample_nuisance("lab", len(aus), rng)
    nuisance.yaw[:], nuisance.pitch[:], nuisance.roll[:] = 0, 0, 0
    nuisance.light[:] = (0, 0, 1)
    return render_faces(aus, ids[[0] * len(aus)], nuisance, size=100)


def test_smile_shows_teeth():
    faces = _one_person_frontal(prototype_matrix()[[3, 6]])
    mouth = faces.aligned[:, 66:84, 35:65].astype(int)
    cheek = faces.aligned[:, 55:60, 25:30].mean(axis=(1, 2))
    assert mouth[0].max() > cheek[0] + 20          # teeth brighter than skin
    assert mouth[1].max() < cheek[1] + 20          # closed neutral mouth: no teeth


def test_parted_lips_show_a_band_of_teeth_only_when_the_lip_is_raised():
    """A relaxed parted mouth (sadness with AU25) shows the incisors' edges; a smile (AU12,
    lips parted) shows a full band: teeth across the mouth are a smile's cue."""
    rows = np.zeros((3, len(AUS)), np.float32)           # sad + 25, smile + 25, 25 alone
    rows[0] = prototype_matrix()[EXPRESSIONS.index("sadness")]
    rows[:, AU[25]] = 1.0
    rows[1, AU[12]] = 1.0
    faces = _one_person_frontal(rows)
    cheek = faces.aligned[:, 55:60, 25:30].mean(axis=(1, 2))
    mouth = faces.aligned[:, 66:88, 30:70].astype(float)
    sad, smile, parted = (mouth > cheek[:, None, None] + 20).sum(axis=(1, 2))
    assert smile > 60
    assert sad < 0.15 * smile and parted < 0.25 * smile


def test_an_open_mouth_shows_the_tongue():
    faces = _one_person_frontal(prototype_matrix()[[0]] * 1.5)
    y, x = faces.landmarks5[0, 3:].mean(0).round().astype(int)[::-1]
    column = faces.aligned[0, y:y + 20, x].astype(int)
    dark = column.min()
    assert dark < 40                                 # the mouth's interior
    assert (column[np.argmin(column):] > dark + 25).any()   # the lighter tongue below it


def test_blind_set_is_balanced_and_shuffled():
    images, labels, domains = blind_set(per_class=2, seed=3)
    assert images.shape == (14, 100, 100, 3) and images.dtype == np.uint8
    lab = images[domains == "lab"]
    assert (lab == lab[..., :1]).all() and (images[domains == "wild"].std(-1) > 2).mean() > 0.3
    assert sorted(labels) == sorted(BASIC7 * 2)
    assert (domains == "lab").sum() == 7 and (domains == "wild").sum() == 7
    assert list(labels) != sorted(labels, key=BASIC7.index)


def test_expression_faces_rejects_unknown_emotions():
    with pytest.raises(ValueError, match="unknown emotions"):
        expression_faces(["joy"], "lab")


@pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is None, reason="facenet-pytorch not installed")
def test_mtcnn_finds_lab_faces_and_agrees_with_the_landmarks():
    result = mtcnn_agreement("lab", n=28, seed=0)
    assert result["detected"] >= 26 / 28
    # Wilson's interval around k of 28 (scipy); for 28 of 28: [1 - z²/(28 + z²), 1]
    low, high = result["detected_ci"]
    assert low < result["detected"] <= high <= 1
    if result["detected"] == 1:
        assert low == pytest.approx(28 / (28 + 1.959964 ** 2), abs=1e-5)
    assert result["error"] < 0.07
    assert result["point_error"].shape == (5,) and result["offset"].shape == (5, 2)
    assert result["median"] <= result["error"] + 0.05 and 0 <= result["far"] <= 1 / 14
    assert result["frontal_error"] == pytest.approx(result["error"])      # lab heads turn under 8°
    assert result["turn_drift"].shape == (5,) and np.isfinite(result["turn_drift"]).all()
    assert result["mirror_error"] < 0.07
    assert list(result["class_error"]) == list(BASIC7)                   # 4 faces of each class
    assert min(result["class_error"].values()) <= result["error"] <= max(result["class_error"].values())


def test_points_found_on_a_mirror_image_map_back_with_left_and_right_swapped():
    # on a 10-px-wide mirror image the face's left eye (image right) is found at x = 7: the
    # unmirrored image has it at 9 - 7 = 2, and it is listed first again
    found = np.array([[[2.0, 3], [7, 3.5], [4.5, 5], [3, 7], [6, 7.5]]])
    back = unmirror(found, 10)
    np.testing.assert_allclose(back, [[[2, 3.5], [7, 3], [4.5, 5], [3, 7.5], [6, 7]]])
    np.testing.assert_allclose(unmirror(back, 10), found)


def test_lab_factors_swap_only_the_named_nuisance():
    """Wild faces with the pose drawn as in the lab keep their identities, AUs and every other
    factor, and turn no more than lab heads; a single field (yaw) is swapped alone; an unknown
    factor is named in the error."""
    from fercore.synth.nuisance import _SETTINGS

    emotions = ["fear", "happiness", "sadness", "anger"]
    _, aus, wild = expression_faces(emotions, "wild", seed=3, size=32)
    faces, swapped_aus, swapped = expression_faces(emotions, "wild", seed=3, size=32, lab_factors=("pose",))
    np.testing.assert_array_equal(aus, swapped_aus)
    assert np.abs(swapped.yaw).max() <= _SETTINGS["lab"]["pose_max"][0] and not np.array_equal(wild.yaw, swapped.yaw)
    for field in ("light", "blur", "occluder", "noise", "background", "raw_iod", "seed"):
        np.testing.assert_array_equal(getattr(wild, field), getattr(swapped, field))
    assert faces.aligned.shape == (4, 32, 32)
    _, _, turned_less = expression_faces(emotions, "wild", seed=3, size=32, lab_factors=("yaw",))
    np.testing.assert_array_equal(turned_less.yaw, swapped.yaw)            # one field of a group
    for field in ("pitch", "roll", "gaze", "light"):
        np.testing.assert_array_equal(getattr(wild, field), getattr(turned_less, field))
    with pytest.raises(ValueError, match="glare"):
        expression_faces(emotions, "wild", lab_factors=("glare",))


def test_turn_drift_is_the_slope_per_ten_degrees_of_yaw():
    """A point 0.02 inter-ocular distances further left per 10° of yaw, plus a constant offset
    and noise-free: the slope comes back exactly; one face or no spread in yaw gives NaN."""
    yaw = np.array([-30.0, -10.0, 0.0, 5.0, 25.0])
    offsets = np.column_stack([0.1 - 0.002 * yaw, np.full(5, 0.03)])
    assert turn_drift(offsets, yaw) == pytest.approx([-0.02, 0.0])
    assert np.isnan(turn_drift(offsets[:1], yaw[:1])).all()
    assert np.isnan(turn_drift(offsets, np.full(5, 4.0))).all()


@pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is None, reason="facenet-pytorch not installed")
def test_mtcnn_repeatability_maps_moved_copies_back_to_the_image():
    """A face moved and rescaled is found where it is (its copies' points agree to a small
    fraction of the eye distance once mapped back); an image without a face gives NaN."""
    from fercore.synth.realism import mtcnn_points, mtcnn_repeatability

    faces = expression_faces(["neutral", "happiness"], "lab", seed=2, raw=True)[0].raw
    moved = mtcnn_repeatability(faces + [np.full((120, 120), 128, np.uint8)], trials=4, seed=1)
    assert np.isfinite(moved[:2]).all() and (moved[:2] < 0.06).all() and np.isnan(moved[2])
    bigger = mtcnn_repeatability(faces[:1], trials=3, seed=1, iod=90)
    assert np.isfinite(bigger).all() and bigger[0] < 0.06
    assert np.isfinite(mtcnn_points(faces)).all()


def test_aligned_nose_tip_sits_halfway_between_eyes_and_mouth():
    """As on real faces aligned to RAF-DB's template: py-feat's mean mesh put the nose tip 42% of
    the way from the eye line to the mouth corners, 4-5 pixels higher than real faces."""
    points = expression_faces(["neutral"] * 20, "lab", seed=1)[0].landmarks5.mean(0)
    eyes, nose, mouth = points[:2, 1].mean(), points[2, 1], points[3:, 1].mean()
    assert 0.47 < (nose - eyes) / (mouth - eyes) < 0.55


def test_raw_faces_sit_on_shoulders():
    """Below the neck the original shows shoulders (wider than three eye distances), not a neck
    running to the canvas' edge: a face detector reads the head in its context."""
    faces, _, nuisance = expression_faces(["neutral"] * 16, "lab", seed=3, raw=True)
    widths = []
    for image, points, iod in zip(faces.raw, faces.raw_landmarks5, nuisance.raw_iod):
        row = int(round(points[3:, 1].mean() + 2.3 * iod))
        if row < image.shape[0]:
            line = image[row].astype(float)
            background = np.median(np.concatenate([line[:3], line[-3:]]))
            widths.append((np.abs(line - background) > 6).sum() / iod)
    assert len(widths) >= 4 and np.median(widths) > 3


def test_nasolabial_folds_run_outside_the_mouth_corners():
    """The smile folds run from the nose wings down and out past the mouth corners (about
    a centimetre beyond them), not along the upper lip."""
    from fercore.synth.render import _texel_grid, _wrinkle_patterns, rest_frame

    x, y, _, _ = rest_frame(load_face_model().rest.astype(np.float64))
    fold = -_wrinkle_patterns(x, y)[0][4]
    fx, fy = _texel_grid(x, y)

    def at(px, py):
        return fold[np.argmin(np.abs(fy[:, 0] - py)), np.argmin(np.abs(fx[0] - px))]

    corner = x[M.MOUTH_RIGHT], y[M.MOUTH_RIGHT]
    upper_lip = (x[M.MOUTH_RIGHT] / 2, (y[M.MOUTH_RIGHT] + y[2]) / 2)    # between subnasale and corner
    beside = max(at(corner[0] + d, corner[1]) for d in np.linspace(0.08, 0.2, 13))
    assert beside > 0.5 * fold.max()
    assert at(*upper_lip) < 0.05 * fold.max() and at(*corner) < 0.2 * fold.max()
