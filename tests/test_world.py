"""The synthetic world: every dataset written, readable by its loader, idempotent, atomic, deterministic."""

import hashlib
import json

import numpy as np
import pytest

from fercore import crowd, ground_truth
from fercore.datasets import LOADERS, load, load_crowd, locate
from fercore.labels import BASIC7
from fercore.synth import world, writers

TINY = dict(raf_tasks=60, raf_workers=40, raf_votes_per_task=12, raf_spammer_fraction=0.1,
            affectnet_train=12, affectnet_val=8, affectnet_flip_rate=0.5, fer2013_images=10,
            ckplus_subjects=2, ckplus_frames=3, jaffe_subjects=1, jaffe_poses=1, sfew_train=6, sfew_val=4,
            emotionet_images=10, emotionet_emotion_fraction=0.5, mmi_subjects=1, mmi_sequences=2, mmi_frames=5,
            oulu_subjects=1, oulu_frames=3)


def file_hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in ("manifest.json", ".lock")}


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    return root, world.materialize(root, "smoke", seed=3, sizes=TINY, workers=1)


def test_every_dataset_is_written_and_loads(tiny_world):
    root, manifest = tiny_world
    assert set(manifest["datasets"]) == set(LOADERS)
    assert manifest["images_per_second"] > 0 and manifest["seed"] == 3
    for name in LOADERS:
        assert locate(root, name) == root / f"synth-{name}"
        faces = load(name, root)
        assert len(faces) > 0 and faces.truth is not None, name
        assert list(faces.truth["file"]) == [f if name != "rafdb" else f"basic/{f}" for f in faces.files]


def test_rafdb_labels_follow_the_crowd_rules(tiny_world):
    root, _ = tiny_world
    votes = load_crowd(locate(root, "rafdb"))
    g = ground_truth.ground_truth_vectors(votes.votes, crowd.GLAD().fit(votes.votes).alphas_).to_numpy()
    single = ground_truth.single_label_subset(g)
    basic = load("rafdb", root)
    tasks = votes.tasks.set_index("basic_file").loc[list(basic.files), "task"].to_numpy()
    np.testing.assert_array_equal(basic.labels, single[tasks])
    assert (single >= 0).sum() == len(basic)
    distribution = load("rafdb", root, labels="distribution")
    np.testing.assert_allclose(distribution.labels, g[tasks], atol=1e-4)
    assert set(votes.workers.columns) >= {"worker", "reliability", "is_spammer"}


def test_affectnet_flips_are_recorded(tiny_world):
    root, _ = tiny_world
    faces = load("affectnet", root, classes="basic8")
    given = [faces.class_names[c] for c in faces.labels]
    assert given == list(faces.truth["given_label"])
    assert (faces.truth["flipped"] == (faces.truth["given_label"] != faces.truth["true_label"])).all()


def test_second_call_is_a_no_op(tiny_world):
    root, manifest = tiny_world
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and p.name != ".lock"}
    again = world.materialize(root, "smoke", seed=3, sizes=TINY)
    assert again == {**manifest, "generated_now": []}
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_same_seed_same_bytes_with_any_workers_and_one_unit_regenerated(tiny_world, tmp_path):
    root, _ = tiny_world
    world.materialize(tmp_path, "smoke", seed=3, sizes=TINY, workers=2)          # 2 render threads
    assert file_hashes(tmp_path) == file_hashes(root)
    world.materialize(tmp_path / "four", "smoke", seed=3, sizes=TINY, workers=4)  # 2 processes x 2
    assert file_hashes(tmp_path / "four") == file_hashes(root)
    marker = (tmp_path / "synth-ckplus" / "manifest.json").stat().st_ino
    manifest = world.materialize(tmp_path, "smoke", seed=3, sizes={**TINY, "sfew_val": 2})
    assert manifest["generated_now"] == ["sfew"]
    assert (tmp_path / "synth-ckplus" / "manifest.json").stat().st_ino == marker
    assert len(load("sfew", tmp_path, split="val")) == 2


def test_crash_leaves_previous_dataset_intact(tmp_path, monkeypatch):
    sizes = {**TINY, "raf_tasks": 20}
    world.materialize(tmp_path, "smoke", seed=0, sizes=sizes)
    before = file_hashes(tmp_path / "synth-fer2013")

    def crash(folder, sizes, seed):
        (folder / "fer2013.csv").write_text("half a file")
        raise RuntimeError("killed mid-write")

    monkeypatch.setitem(writers.WRITERS, "fer2013", (("fer2013",), crash))
    with pytest.raises(RuntimeError, match="killed"):
        world.materialize(tmp_path, "smoke", seed=0, sizes={**sizes, "fer2013_images": 11})
    assert file_hashes(tmp_path / "synth-fer2013") == before
    assert not list(tmp_path.glob(".staging-*"))


def test_sizes_and_profiles_are_checked():
    for profile in ("smoke", "default", "full"):
        world.check_sizes(world.profile_sizes(profile))
    with pytest.raises(ValueError, match=r"missing \['affectnet_flip_rate'\]"):
        world.check_sizes({k: v for k, v in TINY.items() if k != "affectnet_flip_rate"})
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        world.profile_sizes("huge")
    with pytest.raises(FileNotFoundError, match="no synthetic world"):
        world.load_manifest("/nonexistent")


def test_flip_labels_rate_and_never_same_class():
    rng = np.random.default_rng(0)
    true = np.array(BASIC7 * 2000, dtype=object)
    given = writers.flip_labels(true, list(BASIC7), 0.3, rng)
    flipped = given != true
    assert abs(flipped.mean() - 0.3) < 0.01
    fear = (true == "fear") & flipped
    assert (given[fear] == "surprise").mean() > 0.3  # the crowd confusion: fear is read as surprise


def test_manifest_json_is_readable(tiny_world):
    root, manifest = tiny_world
    assert world.load_manifest(root) == manifest and len(manifest["generated_now"]) == 9
    dataset_manifest = json.loads((root / "synth-rafdb" / "manifest.json").read_text())
    assert dataset_manifest["code"] == world.code_hash() and dataset_manifest["sizes"]["raf_tasks"] == 60


def test_posing_subjects_never_repeat_an_emotion():
    rng = np.random.default_rng(1)
    emotions = writers.draw_classes(writers.CKPLUS_COUNTS, 213, rng)
    shuffled, subjects = writers.posing_subjects(emotions, 80, rng)
    assert sorted(shuffled) == sorted(emotions)
    pairs = list(zip(subjects, shuffled))
    assert len(set(pairs)) == len(pairs) and np.bincount(subjects).max() - np.bincount(subjects).min() <= 1


def test_sequence_strength_and_face_boxes():
    t = writers.onset_apex_offset(9, apex=3)
    assert len(t) == 9 and t[0] == 0 and t[-1] == 0 and (t == 1).sum() == 3
    assert writers.ramp(5)[0] == 0 and writers.ramp(5)[-1] == 1 and np.all(np.diff(writers.ramp(5)) > 0)
    points = np.array([[[10.0, 20], [30, 20], [20, 30], [12, 40], [28, 40]]])
    x, y, w, h = writers.face_boxes(points, [(50, 60)])[0]
    assert w == h and 0 <= x and x + w <= 60 and 0 <= y and y + h <= 50
    assert x < 10 and x + w > 30 and y < 20 and y + h > 40


COLOUR_DATASETS = {"rafdb", "rafml", "affectnet", "sfew", "emotionet"}
"""Datasets whose real counterparts are colour photo collections (the rest are grey)."""


def test_colour_where_the_real_dataset_is_colour(tiny_world):
    from PIL import Image

    root, _ = tiny_world
    for name in LOADERS:
        files = [p for p in (root / f"synth-{name}").rglob("*")
                 if p.suffix.lower() in {".jpg", ".png", ".tiff"}]
        for path in files[:3]:                              # FER2013 is a CSV of grey pixels
            with Image.open(path) as im:
                assert im.mode == ("RGB" if name in COLOUR_DATASETS else "L"), (name, path)
        grey = load(name, root)
        assert grey.images.ndim == 3, name                 # chapters get grey unless they ask
    for name in COLOUR_DATASETS:
        colour = load(name, root, color=True)
        grey = load(name, root)
        assert colour.images.shape == grey.images.shape + (3,), name
        spread = np.ptp(colour.images.astype(int), axis=-1).mean()
        assert spread > 5, name                            # really coloured, not grey copies
        luma = colour.images.astype(float) @ [0.299, 0.587, 0.114]
        assert np.abs(luma - grey.images).mean() < 2, name
