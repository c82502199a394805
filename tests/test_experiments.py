"""Every chapter's data set-up reads its datasets through ``fercore.datasets.load``: pointed at a
data root that holds real-format copies under the real datasets' folder names (no ``synth-*``
folder at all), each set-up finds and reads them."""

import numpy as np
import pytest

from fercore.datasets import locate
from fercore.experiments import dlp_dbm, domain_adaptation, handcrafted, semantic_ae, sjmt, stats
from fercore.synth import world
from fercore.synth.writers import WRITERS

REAL_NAMES = {"rafdb": "RAF-DB", "rafml": "RAF-ML", "affectnet": "AffectNet", "fer2013": "fer2013", "ckplus": "CK+",
              "jaffe": "jaffe", "sfew": "SFEW", "emotionet": "EmotioNet", "mmi": "MMI", "oulu": "Oulu-CASIA"}

SIZES = dict(raf_tasks=160, raf_workers=30, raf_votes_per_task=10, raf_spammer_fraction=0.1, affectnet_train=40,
             affectnet_val=16, affectnet_flip_rate=0.2, fer2013_images=40, ckplus_subjects=6, ckplus_frames=3,
             jaffe_subjects=4, jaffe_poses=2, sfew_train=28, sfew_val=14, emotionet_images=160,
             emotionet_emotion_fraction=0.6, mmi_subjects=3, mmi_sequences=6, mmi_frames=5, oulu_subjects=3,
             oulu_frames=4)


@pytest.fixture(scope="module")
def real_root(tmp_path_factory):
    """A data root with every dataset in its real format under its real folder name."""
    root = tmp_path_factory.mktemp("datasets")
    for unit in WRITERS:
        world.generate_unit(root, unit, SIZES, 0, "test", workers=1)
    for name, folder in REAL_NAMES.items():
        (root / f"synth-{name}").rename(root / folder)
    assert not list(root.glob("synth-*"))
    return root


def test_the_real_folders_are_the_ones_located(real_root):
    for name, folder in REAL_NAMES.items():
        assert locate(real_root, name) == real_root / folder


def test_stats_and_handcrafted_read_the_real_copies(real_root):
    loaded, missing = stats.load_datasets(real_root, list(REAL_NAMES))
    assert not missing and {"rafdb-basic", "rafdb-compound", "ckplus", "affectnet", "oulu"} <= set(loaded)
    protocols = handcrafted.load_protocols(real_root, cv_folds=2, seed=0, max_train=20)
    assert set(protocols) == {"ckplus", "jaffe", "rafdb_basic", "rafdb_compound"}
    assert protocols["rafdb_basic"][2]["train_mask"].sum() <= 20
    train, test = handcrafted.load_multilabel(real_root, max_train=10)
    assert len(train) == 10 and len(test) > 0


def test_dlp_dbm_reads_the_real_copies(real_root):
    sets = dlp_dbm.load_sets(real_root)
    assert all(len(sets[k]["train"]) and len(sets[k]["test"]) for k in sets)
    assert dlp_dbm.size_table(sets).loc["basic", "paper train"] == 12271


def test_domain_adaptation_reads_the_real_copies(real_root):
    rafml, source, held_out = domain_adaptation.load_source(real_root)
    assert len(source["source_images"]) + len(held_out) == len(rafml)
    assert set(domain_adaptation.load_targets(real_root)) == {"jaffe", "ckplus", "mmi", "sfew"}


def test_sjmt_reads_the_real_copies(real_root):
    tasks = sjmt.load_chapter_tasks(real_root, input_size=16, compound_per_class=3, compound_min_test=1)
    assert {"fer2013", "sfew", "emotionet", "compound", "ckplus_emotion", "ckplus_au"} <= set(tasks)


def test_semantic_ae_reads_the_real_copies(real_root):
    affectnet, train, val = semantic_ae.load_affectnet(real_root, 24)
    assert len(train) and len(val) and train.images.shape[1:] == (24, 24)
    for name in ("ckplus", "oulu"):
        frames, peaks, preceding, before = semantic_ae.load_sequences(real_root, name, 24)
        assert len(peaks) and np.all(np.asarray(preceding).shape[-1:] == (before,))
