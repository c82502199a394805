"""Loaders align real photos that come without landmark files from detected, cached landmarks:
RAF-DB originals, SFEW frames, AffectNet rows without landmarks."""

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fercore.datasets.affectnet import COLUMNS, load_affectnet
from fercore.datasets.base import write_lines
from fercore.datasets.detected import read_landmark_cache
from fercore.datasets.rafdb import load_rafdb
from fercore.datasets.sfew import load_sfew
from fercore.detect import detect_photos
from fercore.labels import BASIC7
from fercore.sample_photos import expression_photos


@pytest.fixture(scope="module")
def photos():
    return [(p, e) for p, e in expression_photos()]


@pytest.fixture(scope="module")
def reference(photos):
    """Each photo's aligned face from the detector run directly on it."""
    return {p.name: r.aligned[0] for p, r in zip([p for p, _ in photos], detect_photos([p for p, _ in photos]))}


def close(a, b):
    """Aligned from landmarks cached to 0.01 pixel: a grey level apart, bar a few pixels at the
    photo's border, where a subpixel shift moves the black fill."""
    diff = np.abs(a.astype(int) - b)
    return np.percentile(diff, 99) <= 1 and diff.mean() < 0.5


def blank(path):
    Image.new("RGB", (160, 120), (200, 200, 190)).save(path)


def test_rafdb_originals_without_manual_landmarks(tmp_path, photos, reference):
    base = tmp_path / "RAF-DB" / "basic"
    names = [f"train_{i + 1:05d}.jpg" for i in range(len(photos))] + ["test_00001.jpg"]
    (base / "Image" / "original").mkdir(parents=True)
    for name, (path, _) in zip(names, photos):
        shutil.copyfile(path, base / "Image" / "original" / name)
    blank(base / "Image" / "original" / "test_00001.jpg")
    codes = [BASIC7.index(e) + 1 for _, e in photos] + [7]
    write_lines(base / "EmoLabel" / "list_patition_label.txt", [f"{n} {c}" for n, c in zip(names, codes)])
    with pytest.warns(UserWarning, match="test_00001.jpg"):
        faces = load_rafdb(tmp_path / "RAF-DB", image="original")
    assert list(faces.files) == names[:-1] and [BASIC7[y] for y in faces.labels] == [e for _, e in photos]
    for image, (path, _) in zip(faces.images, photos):
        assert close(image, reference[path.name])
    cache = read_landmark_cache(base / "Image" / "original" / "landmarks5.csv")
    assert sorted(cache) == sorted(names) and cache["test_00001.jpg"] is None
    assert np.allclose(faces.meta[["x0", "y0"]].to_numpy(), [cache[n][0] for n in names[:-1]])


def test_sfew_frames_with_detection(tmp_path, photos, reference):
    folders = {"surprise": "Surprise", "happiness": "Happy", "anger": "Angry", "disgust": "Disgust"}
    for path, emotion in photos:
        (tmp_path / "Train" / folders[emotion]).mkdir(parents=True)
        shutil.copyfile(path, tmp_path / "Train" / folders[emotion] / path.name)
    (tmp_path / "Val" / "Neutral").mkdir(parents=True)
    blank(tmp_path / "Val" / "Neutral" / "frame.png")
    with pytest.warns(UserWarning, match="Val/Neutral/frame.png"):
        faces = load_sfew(tmp_path, detect=True)
    assert len(faces) == 4 and set(faces.split) == {"train"}
    for image, file in zip(faces.images, faces.files):
        assert close(image, reference[file.split("/")[-1]])
    assert (tmp_path / "landmarks5.csv").is_file()


def test_affectnet_rows_without_landmarks(tmp_path, photos, reference):
    images = tmp_path / "Manually_Annotated_Images"
    rows = []
    for i, (path, emotion) in enumerate(photos):
        (images / str(i)).mkdir(parents=True)
        shutil.copyfile(path, images / str(i) / path.name)
        code = {"surprise": 3, "happiness": 1, "anger": 6, "disgust": 5}[emotion]
        rows.append([f"{i}/{path.name}", 0, 0, 512, 512, "", code, 0.1, 0.2])
    blank(images / "blank.jpg")
    rows.append(["blank.jpg", 0, 0, 100, 100, "", 0, 0.0, 0.0])
    (tmp_path / "Manually_Annotated_file_lists").mkdir()
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "Manually_Annotated_file_lists" / "training.csv",
                                              index=False)
    with pytest.warns(UserWarning, match="blank.jpg"):
        faces = load_affectnet(tmp_path, split="train", align=True)
    assert len(faces) == 4
    for image, file in zip(faces.images, faces.files):
        assert close(image, reference[file.split("/")[-1]])
    cropped = load_affectnet(tmp_path, split="train")  # the box crop needs no landmarks
    assert len(cropped) == 5
