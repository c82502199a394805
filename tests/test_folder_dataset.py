"""The folder-of-class-folders dataset on real photographs, with detected landmarks cached."""

import numpy as np
import pytest
from PIL import Image

from fercore.datasets import load_basic, load_folder
from fercore.datasets.base import DatasetFormatError
from fercore.datasets.detected import read_landmark_cache
from fercore.datasets.folder import class_of, folder_entries
from fercore.detect import detect_photos
from fercore.labels import BASIC7
from fercore.sample_photos import expression_photos

FOLDER_NAMES = {"surprise": "Surprised", "happiness": "happy", "anger": "ANGRY", "disgust": "disgust"}


@pytest.fixture
def photo_folder(tmp_path):
    root = tmp_path / "my photos"
    for path, emotion in expression_photos():
        (root / FOLDER_NAMES[emotion]).mkdir(parents=True)
        Image.open(path).save(root / FOLDER_NAMES[emotion] / path.name)
    (root / "neutral").mkdir()
    Image.new("RGB", (200, 150), (30, 90, 160)).save(root / "neutral" / "wall.png")
    (root / "neutral" / "notes.txt").write_text("ignored: not an image suffix")
    return root


def test_a_folder_of_photos_loads_aligned_with_labels_and_a_landmark_cache(photo_folder, monkeypatch):
    with pytest.warns(UserWarning, match=r"no face found in 1 image\(s\), left out: neutral/wall.png"):
        faces = load_folder(photo_folder, device="cpu")
    assert faces.class_names == BASIC7 and faces.images.shape == (4, 100, 100)
    assert [BASIC7[y] for y in faces.labels] == ["anger", "surprise", "disgust", "happiness"]
    assert set(faces.split) <= {"train", "test"}
    cache = read_landmark_cache(photo_folder / "landmarks5.csv")
    assert cache["neutral/wall.png"] is None and len(cache) == 5
    # the aligned faces are those of the detector run on the photos themselves (landmarks cached
    # to 0.01 pixel: at most a grey level apart)
    by_name = {r.path.name: r.aligned[0] for r in detect_photos([photo_folder]) if r.error is None}
    for file, image in zip(faces.files, faces.images):
        assert np.abs(image.astype(int) - by_name[file.split("/")[-1]]).max() <= 1
    # a second load reads the cache: no detection runs
    monkeypatch.setattr("fercore.detect.FaceDetector.detect", lambda *a: pytest.fail("detected again"))
    with pytest.warns(UserWarning, match="wall.png"):
        again = load_folder(photo_folder)
    assert np.array_equal(again.images, faces.images)


def test_split_folders_unknown_names_and_the_basic_stand_in(photo_folder, tmp_path):
    split_root = tmp_path / "split"
    for split in ("train", "Test"):
        (split_root / split / "Happy").mkdir(parents=True)
        Image.open(next(p for p, e in expression_photos() if e == "happiness")).save(
            split_root / split / "Happy" / "a.jpg")
    entries = folder_entries(split_root)
    assert entries == [("Test/Happy/a.jpg", "test", "happiness"), ("train/Happy/a.jpg", "train", "happiness")]
    test = load_basic("unused", source=str(split_root), split="test")
    assert list(test.files) == ["Test/Happy/a.jpg"] and test.labels.tolist() == [3]
    (photo_folder / "Bored").mkdir()
    with pytest.raises(DatasetFormatError, match=r"unknown class folder name\(s\) \['Bored'\]"):
        load_folder(photo_folder)
    with pytest.raises(FileNotFoundError, match="source must be 'rafdb'"):
        load_basic("data", source=str(tmp_path / "nowhere"))
    assert class_of("Fearful") == "fear" and class_of("cat") is None


def test_whole_images_without_alignment(tmp_path):
    root = tmp_path / "aligned"
    (root / "sad").mkdir(parents=True)
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(root / "sad" / "x.png")
    faces = load_folder(root, align=False, size=48)
    assert faces.images.shape == (1, 48, 48) and faces.labels.tolist() == [4]
    assert not (root / "landmarks5.csv").exists()
