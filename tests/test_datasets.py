"""Loaders on tiny fixtures written by code in each dataset's real on-disk format."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fercore import align
from fercore.datasets import FaceDataset, FaceSet, load, locate
from fercore.datasets import affectnet, base, ckplus, emotionet, fer2013, jaffe, mmi_oulu, rafdb, rafml, sfew
from fercore.labels import AUS, BASIC7, COMPOUND11, EMOTIONS6


def face(seed, size=100):
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def smooth_face(seed, size=100):
    """A smooth image (JPEG keeps it within a few gray levels)."""
    y, x = np.mgrid[0:size, 0:size]
    return ((x * (seed + 1) + y * 2) % 200 + 20).astype(np.uint8)


def lines(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ---------------------------------------------------------------- FaceSet and FaceDataset


def small_faceset(n=6, kind="single"):
    labels = np.arange(n) % 7 if kind == "single" else np.eye(7, dtype=np.float32)[np.arange(n) % 7]
    return FaceSet("toy", np.stack([face(i, 8) for i in range(n)]), labels, BASIC7, [f"f{i}" for i in range(n)],
                   ["train"] * 4 + ["test"] * (n - 4), label_kind="single" if kind == "single" else "multilabel")


def test_faceset_subset_arrays_and_checks():
    fs = small_faceset()
    train = fs.subset(split="train")
    assert len(train) == 4 and list(train.files) == ["f0", "f1", "f2", "f3"]
    assert list(fs.subset([5, 1]).files) == ["f5", "f1"]
    assert list(fs.subset([5, 1], split="train").files) == ["f1"]
    assert list(fs.subset(fs.labels > 3).files) == ["f4", "f5"]
    assert [fs.class_names[c] for c in fs.per_class(1).labels] == list(BASIC7[:6])
    X, y = fs.arrays(flat=True)
    assert X.shape == (6, 64) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert fs.arrays()[0].dtype == np.uint8
    with pytest.raises(ValueError, match="no split 'val'"):
        fs.subset(split="val")
    with pytest.raises(ValueError, match="labels has 2 rows"):
        FaceSet("bad", fs.images, fs.labels[:2], BASIC7, fs.files, fs.split)


def test_face_dataset_returns_tensor_and_label():
    ds = FaceDataset(small_faceset(), transform=lambda x: x * 2)
    image, label = ds[3]
    assert tuple(image.shape) == (1, 8, 8) and image.dtype.is_floating_point
    assert float(image.max()) <= 2.0 and label == 3 and isinstance(label, int)
    _, soft = FaceDataset(small_faceset(kind="multi"))[2]
    assert soft.shape == (7,) and float(soft[2]) == 1.0


# ---------------------------------------------------------------- RAF-DB


def write_raf_fixture(root, spelling="list_patition_label.txt"):
    basic = root / "basic"
    lines(basic / "EmoLabel" / spelling, "train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 7\n")
    for i, name in enumerate(["train_00001", "train_00002", "test_0001"]):
        (basic / "Image" / "aligned").mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_face(i)).save(basic / "Image" / "aligned" / f"{name}_aligned.jpg", quality=95)
        lines(basic / "Annotation" / "manual" / f"{name}_manu_attri.txt",
              "40.5\t45.0\n80.25\t44.0\n60\t66\n45\t85\n76\t86\n1\n0\n2\n")
    lines(basic / "EmoLabel" / "distribution.txt",
          "train_00001.jpg 0 0 0 0 1 0 0\ntrain_00002.jpg .5 .5 0 0 0 0 0\ntest_0001.jpg 0 0 0 0 0 0 1\n")


@pytest.mark.parametrize("spelling", ["list_patition_label.txt", "list_partition_label.txt"])
def test_rafdb_basic_both_spellings(tmp_path, spelling):
    write_raf_fixture(tmp_path, spelling)
    fs = rafdb.load_rafdb(tmp_path)
    assert fs.class_names == BASIC7 and fs.images.shape == (3, 100, 100)
    assert [BASIC7[c] for c in fs.labels] == ["sadness", "surprise", "neutral"]
    assert list(fs.split) == ["train", "train", "test"]
    assert list(fs.meta[["gender", "race", "age"]].iloc[0]) == ["female", "caucasian", "20-39"]
    assert fs.meta.loc[0, "x1"] == 80.25
    assert np.abs(fs.images[0].astype(int) - smooth_face(0)).max() < 16
    assert len(rafdb.load_rafdb(tmp_path, split="test")) == 1


def test_rafdb_distribution(tmp_path):
    write_raf_fixture(tmp_path)
    fs = rafdb.load_rafdb(tmp_path, labels="distribution")
    assert fs.label_kind == "distribution" and fs.labels.shape == (3, 7)
    np.testing.assert_allclose(fs.labels[1], [0.5, 0.5, 0, 0, 0, 0, 0])


def test_rafdb_bad_inputs_name_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="RAF-DB basic folder"):
        rafdb.load_rafdb(tmp_path)
    write_raf_fixture(tmp_path)
    lines(tmp_path / "basic" / "EmoLabel" / "list_patition_label.txt", "train_00001.jpg 5\ntrain_00002.jpg 9\n")
    with pytest.raises(ValueError, match=r"list_patition_label.txt, line 2: unknown label '9'"):
        rafdb.load_rafdb(tmp_path)
    lines(tmp_path / "basic" / "EmoLabel" / "list_patition_label.txt", "train_00001.jpg 5\n")
    (tmp_path / "basic" / "Image" / "aligned" / "train_00001_aligned.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="train_00001_aligned.jpg: unreadable image"):
        rafdb.load_rafdb(tmp_path)
    lines(tmp_path / "basic" / "Annotation" / "manual" / "train_00001_manu_attri.txt", "1\t2\n1\n0\n2\n")
    with pytest.raises(ValueError, match="manu_attri.txt: expected 5 landmark lines"):
        rafdb.load_rafdb(tmp_path)


def test_rafdb_writer_round_trip_compound(tmp_path):
    names = [rafdb.image_name("train", 1, "compound"), rafdb.image_name("test", 1, "compound")]
    assert names == ["train_0001.jpg", "test_0001.jpg"]
    points = np.tile([[30.0, 40], [70, 40], [50, 60], [35, 75], [65, 75]], (2, 1, 1))
    rafdb.write_rafdb_subset(tmp_path, "compound", names, [0, 10], [smooth_face(0), smooth_face(1)],
                             distributions=np.full((2, 7), 1 / 7), landmarks=points, attributes=[[0, 1, 2], [1, 2, 3]])
    fs = rafdb.load_rafdb(tmp_path, subset="compound")
    assert fs.class_names == COMPOUND11 and list(fs.labels) == [0, 10]
    assert list(fs.meta["race"]) == ["african-american", "asian"]
    np.testing.assert_allclose(base.landmarks_array(fs.meta)[1], points[1])
    assert rafdb.load_rafdb(tmp_path, subset="compound", labels="distribution").labels.shape == (2, 7)


def test_rafdb_crowd_tables(tmp_path):
    crowd = rafdb.CrowdVotes(pd.DataFrame({"task": [0, 0, 1], "worker": [3, 4, 3], "label": [1, 1, 6]}),
                             pd.DataFrame({"task": [0, 1]}), pd.DataFrame({"worker": [3, 4], "reliability": [0.9, 0.0]}))
    rafdb.write_crowd(tmp_path, crowd)
    back = rafdb.load_crowd(tmp_path)
    pd.testing.assert_frame_equal(back.votes, crowd.votes)
    lines(tmp_path / "crowd" / "votes.csv", "task,worker,label\n0,3,1\n0,4,7\n")
    with pytest.raises(ValueError, match="votes.csv, line 3: unknown label"):
        rafdb.load_crowd(tmp_path)


def test_rafdb_originals_aligned_from_landmarks(tmp_path):
    image = smooth_face(3, 160)
    points = np.array([[60.0, 70], [100, 70], [80, 95], [65, 110], [95, 110]])
    rafdb.write_rafdb_subset(tmp_path, "basic", ["train_00001.jpg"], [3], [face(0)], originals=[image],
                             landmarks=points[None], attributes=[[0, 0, 2]])
    fs = rafdb.load_rafdb(tmp_path, image="original")
    expected = align.align_face(np.asarray(Image.open(tmp_path / "basic/Image/original/train_00001.jpg")), points)[0]
    np.testing.assert_array_equal(fs.images[0], expected)


# ---------------------------------------------------------------- RAF-ML


def test_rafml_multilabel_and_distribution(tmp_path):
    names = ["train_0001.jpg", "test_0001.jpg"]
    dist = np.array([[0.4, 0.3, 0.3, 0, 0, 0], [0, 0, 0.5, 0, 0.25, 0.25]])
    rafml.write_rafml(tmp_path, names, [smooth_face(0), smooth_face(1)], dist, dist > 1 / 6)
    fs = rafml.load_rafml(tmp_path)
    assert fs.class_names == EMOTIONS6 and fs.label_kind == "multilabel"
    np.testing.assert_array_equal(fs.labels, (dist > 1 / 6).astype(np.float32))
    np.testing.assert_allclose(rafml.load_rafml(tmp_path, labels="distribution").labels, dist, atol=1e-4)
    assert list(rafml.load_rafml(tmp_path, split="test").files) == ["test_0001.jpg"]
    lines(tmp_path / "EmoLabel" / "multilabel.txt", "train_0001.jpg 1 0 2 0 0 0\n")
    with pytest.raises(ValueError, match="multilabel.txt, line 1: multi-label entries must be 0 or 1"):
        rafml.load_rafml(tmp_path)


# ---------------------------------------------------------------- AffectNet


def test_affectnet_csv_crop_and_classes(tmp_path):
    raw = np.zeros((120, 120), np.uint8)
    raw[20:70, 30:80] = 200
    files = ["1/a.jpg", "1/b.jpg", "2/c.jpg"]
    pts = np.tile(np.arange(10, dtype=float).reshape(5, 2), (3, 1, 1))
    affectnet.write_affectnet(tmp_path, "train", files, [raw] * 3, [[30, 20, 50, 50]] * 3, pts,
                              ["happiness", "contempt", "none"], [0.5, -0.2, -2], [0.1, 0.3, -2])
    affectnet.write_affectnet(tmp_path, "val", ["3/d.jpg"], [raw], [[30, 20, 50, 50]], pts[:1], ["fear"], [0], [0])
    header = (tmp_path / "Manually_Annotated_file_lists" / "training.csv").read_text().splitlines()[0]
    assert header == ",".join(affectnet.COLUMNS)
    fs = affectnet.load_affectnet(tmp_path, size=40)
    assert [BASIC7[c] for c in fs.labels] == ["happiness", "fear"] and list(fs.split) == ["train", "val"]
    assert fs.images.shape == (2, 40, 40) and fs.images[0].min() > 150  # the box holds the bright square
    assert fs.meta.loc[0, "valence"] == 0.5
    eight = affectnet.load_affectnet(tmp_path, split="train", classes="basic8")
    assert [eight.class_names[c] for c in eight.labels] == ["happiness", "contempt"]


def test_affectnet_bad_inputs(tmp_path):
    affectnet.write_affectnet(tmp_path, "train", ["1/a.jpg"], [face(0)], [[0, 0, 50, 50]],
                              np.zeros((1, 5, 2)), ["anger"], [0], [0])
    path = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    table = pd.read_csv(path)
    table.loc[0, "expression"] = 12
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"training.csv, line 2: unknown expression"):
        affectnet.load_affectnet(tmp_path, split="train")
    table.drop(columns=["valence"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"training.csv, line 1: missing column\(s\) \['valence'\]"):
        affectnet.load_affectnet(tmp_path, split="train")


# ---------------------------------------------------------------- FER2013


def test_fer2013_round_trip_and_errors(tmp_path):
    images = np.stack([face(i, 48) for i in range(3)])
    fer2013.write_fer2013(tmp_path, images, [BASIC7.index("anger"), 0, 6], ["train", "val", "test"])
    head = (tmp_path / "fer2013.csv").read_text().splitlines()
    assert head[0] == "emotion,pixels,Usage" and head[1].startswith("0,") and head[1].endswith(",Training")
    fs = fer2013.load_fer2013(tmp_path)
    np.testing.assert_array_equal(fs.images, images)
    assert [BASIC7[c] for c in fs.labels] == ["anger", "surprise", "neutral"]
    assert list(fs.split) == ["train", "val", "test"] and list(fs.files) == ["row_00001", "row_00002", "row_00003"]
    assert fer2013.load_fer2013(tmp_path, split="test", size=100).images.shape == (1, 100, 100)
    lines(tmp_path / "fer2013.csv", "emotion,pixels,Usage\n7,0 0,Training\n")
    with pytest.raises(ValueError, match="fer2013.csv, line 2: unknown emotion"):
        fer2013.load_fer2013(tmp_path)
    lines(tmp_path / "fer2013.csv", "emotion,pixels,Usage\n3,0 0,Training\n")
    with pytest.raises(ValueError, match="line 2: expected 2304 gray values"):
        fer2013.load_fer2013(tmp_path)


# ---------------------------------------------------------------- CK+


def write_ck_fixture(root):
    points = np.array([[30.0, 40], [70, 40], [50, 58], [36, 75], [64, 75]])
    for subject, sequence, emotion in [("S005", "001", "disgust"), ("S010", "002", CONTEMPT_NAME), ("S010", "004", "happiness")]:
        frames = [smooth_face(k, 120) for k in range(3)]
        ckplus.write_ckplus_sequence(root, subject, sequence, frames, [points] * 3, emotion, facs={12: 3, 6: 0, 16: 2})


CONTEMPT_NAME = "contempt"


def test_ckplus_layout_and_protocols(tmp_path):
    write_ck_fixture(tmp_path)
    assert (tmp_path / "Emotion/S005/001/S005_001_00000003_emotion.txt").read_text() == "   3.0000000e+00\n"
    assert (tmp_path / "cohn-kanade-images/S010/004/S010_004_00000001.png").is_file()
    peaks = ckplus.load_ckplus(tmp_path)
    assert [BASIC7[c] for c in peaks.labels] == ["disgust", "happiness"]  # contempt dropped in basic7
    assert list(peaks.subjects) == ["S005", "S010"] and list(peaks.meta["frame"]) == [3, 3]
    first = ckplus.load_ckplus(tmp_path, frames="first_and_peak", classes="basic8")
    assert [first.class_names[c] for c in first.labels] == ["neutral", "disgust", "neutral", "contempt", "neutral", "happiness"]
    assert len(ckplus.load_ckplus(tmp_path, frames="all")) == 6
    aus = ckplus.load_ckplus(tmp_path, labels="au")
    assert aus.labels.shape == (2, len(AUS)) and aus.labels[0, AUS.index(12)] == 1 and aus.labels[0].sum() == 2


def test_ckplus_landmarks_68_and_bad_code(tmp_path):
    pts68 = np.zeros((68, 2))
    pts68[36:42] = [30, 40]
    pts68[42:48] = [70, 40]
    pts68[30], pts68[48], pts68[54] = [50, 58], [36, 75], [64, 75]
    path = tmp_path / "l.txt"
    lines(path, "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in pts68))
    np.testing.assert_allclose(ckplus.read_landmarks_file(path), [[30, 40], [70, 40], [50, 58], [36, 75], [64, 75]])
    lines(tmp_path / "ck" / "Emotion/S001/001/S001_001_00000002_emotion.txt", "   9.0000000e+00\n")
    (tmp_path / "ck" / "cohn-kanade-images").mkdir()
    with pytest.raises(ValueError, match="S001_001_00000002_emotion.txt, line 1: unknown emotion code 9"):
        ckplus.load_ckplus(tmp_path / "ck")


# ---------------------------------------------------------------- JAFFE


def test_jaffe_names_ratings_and_errors(tmp_path):
    files = [jaffe.file_name("KA", "anger", 1, 39), jaffe.file_name("KM", "happiness", 2, 12)]
    assert files[0] == "KA.AN1.39.tiff"
    ratings = np.array([[1.2, 1.5, 2.0, 1.1, 1.3, 4.5], [1.5, 1.2, 1.1, 4.8, 1.0, 1.1]])
    jaffe.write_jaffe(tmp_path, files, [smooth_face(0, 64), smooth_face(1, 64)], ratings)
    header = (tmp_path / "semantic_ratings.txt").read_text().splitlines()
    assert header[0] == "N HAP SAD SUR ANG DIS FEA PIC" and header[1].endswith("KA-AN1")
    fs = jaffe.load_jaffe(tmp_path)
    assert [BASIC7[c] for c in fs.labels] == ["anger", "happiness"] and list(fs.subjects) == ["KA", "KM"]
    assert fs.images.shape == (2, 100, 100)
    rated = jaffe.load_jaffe(tmp_path, labels="ratings")
    np.testing.assert_allclose(rated.labels, ratings, atol=0.006)
    (tmp_path / "KA_AN1.tiff").write_bytes(b"x")
    with pytest.raises(ValueError, match="KA_AN1.tiff: name does not follow"):
        jaffe.load_jaffe(tmp_path)


# ---------------------------------------------------------------- SFEW


def test_sfew_folders(tmp_path):
    paths = [sfew.sfew_path("train", "happiness", "a_001.png"), sfew.sfew_path("val", "anger", "b_002.png")]
    assert paths == ["Train/Happy/a_001.png", "Val/Angry/b_002.png"]
    (tmp_path / "Val").mkdir()
    sfew.write_sfew(tmp_path, paths, [face(0, 64), face(1, 64)])
    fs = sfew.load_sfew(tmp_path, size=64)
    assert [BASIC7[c] for c in fs.labels] == ["happiness", "anger"] and list(fs.split) == ["train", "val"]
    np.testing.assert_array_equal(fs.images[0], face(0, 64))
    (tmp_path / "Train" / "Contempt").mkdir()
    with pytest.raises(ValueError, match="Contempt: unknown class folder"):
        sfew.load_sfew(tmp_path)


def test_sfew_frames_aligned_from_landmark_sidecar(tmp_path):
    paths = [sfew.sfew_path("train", "happiness", "a_001.png"), sfew.sfew_path("val", "anger", "b_002.png")]
    frames = [smooth_face(0, 120), smooth_face(1, 120)]
    points = np.array([[[40, 45], [80, 45], [60, 70], [45, 90], [75, 90]]] * 2, float)
    points[1] += 5
    sfew.write_sfew(tmp_path, paths, frames)
    base.write_landmarks5_sidecar(tmp_path, paths, points)
    fs = sfew.load_sfew(tmp_path, size=64)
    for k in range(2):
        np.testing.assert_array_equal(fs.images[k], align.align_face(frames[k], points[k], size=64)[0])
    base.write_landmarks5_sidecar(tmp_path, paths[:1], points[:1])
    with pytest.raises(ValueError, match="landmarks5.csv: no landmarks for 'Val/Angry/b_002.png'"):
        sfew.load_sfew(tmp_path)


# ---------------------------------------------------------------- EmotioNet


def test_emotionet_aus_and_emotions(tmp_path):
    au = np.zeros((3, len(emotionet.CHALLENGE_AUS)))
    au[0, 0] = 1
    au[1, 2] = np.nan
    files = ["000001.jpg", "000002.jpg", "000003.jpg"]
    emotionet.write_emotionet(tmp_path, files, [smooth_face(i) for i in range(3)], au, ["000003.jpg"], ["sadly angry"])
    assert "999" in (tmp_path / "au_labels.csv").read_text()
    fs = emotionet.load_emotionet(tmp_path)
    assert fs.class_names[:3] == ("AU1", "AU2", "AU4") and fs.labels[0, 0] == 1 and np.isnan(fs.labels[1, 2])
    emo = emotionet.load_emotionet(tmp_path, labels="emotion")
    assert list(emo.files) == ["000003.jpg"] and emo.class_names[emo.labels[0]] == "sadly angry"
    lines(tmp_path / "au_labels.csv", "file,AU 1,AU 2\n000001.jpg,1,3\n")
    with pytest.raises(ValueError, match="au_labels.csv, line 2: AU value 3"):
        emotionet.load_emotionet(tmp_path)


# ---------------------------------------------------------------- MMI and Oulu-CASIA


def test_oulu_and_mmi_sequences(tmp_path):
    frames = [smooth_face(k, 50) for k in range(5)]
    mmi_oulu.write_oulu_sequence(tmp_path / "oulu", "P001", "fear", frames)
    mmi_oulu.write_oulu_sequence(tmp_path / "oulu", "P002", "surprise", frames)
    fs = mmi_oulu.load_oulu(tmp_path / "oulu")
    assert len(fs) == 6 and list(fs.meta["frame"][:3]) == [2, 3, 4]
    assert [EMOTIONS6[c] for c in fs.labels[[0, 3]]] == ["fear", "surprise"] and fs.subjects[3] == "P002"
    mmi_oulu.write_mmi(tmp_path / "mmi", ["s1", "s2"], ["1", "2"], ["anger", "happiness"], [[2, 3], [4]], [frames, frames])
    peaks = mmi_oulu.load_mmi(tmp_path / "mmi")
    assert list(peaks.meta["frame"]) == [2, 3, 4] and [EMOTIONS6[c] for c in peaks.labels] == ["anger", "anger", "happiness"]
    assert len(mmi_oulu.load_mmi(tmp_path / "mmi", frames="all")) == 10
    lines(tmp_path / "mmi" / "mmi_labels.csv", "session,subject,emotion,peak_frames\ns1,1,8,2\n")
    with pytest.raises(ValueError, match="mmi_labels.csv, line 2: unknown emotion code"):
        mmi_oulu.load_mmi(tmp_path / "mmi")
    (tmp_path / "oulu" / "VL" / "Strong" / "P001" / "Contempt").mkdir()
    with pytest.raises(ValueError, match="Contempt: unknown class folder"):
        mmi_oulu.load_oulu(tmp_path / "oulu")


# ---------------------------------------------------------------- locate, load, truth sidecar


def test_locate_prefers_a_real_copy(tmp_path):
    (tmp_path / "synth-ckplus").mkdir()
    assert locate(tmp_path, "ckplus").name == "synth-ckplus"
    (tmp_path / "CK+").mkdir()
    assert locate(tmp_path, "ckplus").name == "CK+"
    with pytest.raises(FileNotFoundError, match="no rafml dataset"):
        locate(tmp_path, "rafml")
    with pytest.raises(ValueError, match="unknown dataset"):
        locate(tmp_path, "imagenet")


def test_load_attaches_truth_sidecar(tmp_path):
    root = tmp_path / "synth-fer2013"
    fer2013.write_fer2013(root, np.stack([face(0, 48), face(1, 48)]), [0, 1], ["train", "test"])
    base.write_truth(root, pd.DataFrame({"file": ["row_00002", "row_00001"], "flipped": [True, False]}))
    fs = load("fer2013", tmp_path, split="test")
    assert list(fs.truth["file"]) == ["row_00002"] and bool(fs.truth.loc[0, "flipped"])


def test_write_gray_is_deterministic(tmp_path):
    for suffix in ("jpg", "png", "tiff"):
        base.write_gray(tmp_path / f"a.{suffix}", face(1))
        base.write_gray(tmp_path / f"b.{suffix}", face(1))
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()
