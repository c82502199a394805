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


def test_semantic_discussion_weighs_gaps_against_the_seed_spread():
    import pandas as pd

    settings = ["without", "BT", "T", "ce_bb", "focal_none", "focal_weighted"]
    summary = {s: {"accuracy": (0.5, 0.02), "mean_diag": (0.4, 0.01)} for s in settings}
    summary["BT"] = {"accuracy": (0.6, 0.02), "mean_diag": (0.45, 0.01)}
    tables = {s: pd.DataFrame({"accuracy": [0.5, 0.52]}) for s in settings}
    by_class = pd.DataFrame({"masked (%)": [10.0, 5.0]}, index=["happy", "sad"])
    counts = pd.DataFrame({"train share (%)": [60.0, 40.0]}, index=["happy", "sad"])
    text = semantic_ae.discussion(summary, tables, quality=None, divergence={"reconstruction": 0.1, "neighbour": 0.3},
                                  ae_r2=0.5, by_class=by_class, counts=counts, fc_totals={"with": 1.0, "without": 2.0},
                                  class_names=["happy", "sad"], n_seeds=2, n_train=100, input_size=32, width=0.5,
                                  iterations=30, epochs=1.2, mask_start=0.0, profile="smoke")
    assert "BT > baseline holds." in text and "Does the mask find" not in text


def test_handcrafted_discussion_reads_the_scores_and_the_paper():
    from fercore.paper import paper_values

    datasets, features = ("ckplus", "jaffe", "rafdb_basic", "rafdb_compound"), ("lbp", "hog")
    scores = {(d, f, c): {"mean_diag": 0.5 + 0.1 * (c == "svm")} for d in datasets for f in features
              for c in ("svm", "lda")}
    naive = {d: {"mean_diag": 0.14} for d in ("rafdb_basic", "rafdb_compound")}
    ml_scores = {(f, c): {"average_precision": 0.6} for f in features for c in ("mlknn", "rakel")}
    protocols = {d: (d.upper(), None, {}) for d in datasets}
    text = handcrafted.discussion(scores, naive, ml_scores, paper_values(printed=True), protocols=protocols,
                                  features=features, classifiers=["svm", "lda"], multilabel_features=features,
                                  multilabel_classifiers=["mlknn", "rakel"], naive_draws=3, max_train=100,
                                  multilabel_pca_components=0, profile="smoke", seconds=1.0)
    assert "every descriptor and classifier clears it" in text and "SVM beats LDA+NN on 100%" in text


def test_dlp_dbm_discussion_weighs_dlp_against_the_baseline():
    import pandas as pd

    from fercore.paper import paper_values

    summary = pd.DataFrame([{"subset": s, "classifier": c, "model": m, "metric": "mean_diag",
                             "mean": {"basedcnn": 0.40, "dlp_cnn": 0.45, "center_loss": 0.42}[m], "sd": 0.01, "n": 3}
                            for s in ("basic", "compound") for c in ("svm", "lda")
                            for m in ("basedcnn", "dlp_cnn", "center_loss")])
    ml_summary = pd.DataFrame([{"classifier": "mlknn", "metric": k, "model": m, "mean": v}
                               for k in ("average_precision", "hamming_loss")
                               for m, v in (("basedcnn", 0.5), ("dbm_cnn", 0.6))])
    ablation = pd.DataFrame([{"model": m, "metric": "average_precision", "mean": 0.5} for m in dlp_dbm.ABLATION_ROWS])
    histories = {("basedcnn", 0): pd.DataFrame({"ce": [2.0, 1.5, 1.0]})}
    text = dlp_dbm.discussion(summary, ml_summary, ablation, histories, paper=paper_values(printed=True),
                              hog_svm=0.3, train_labels=np.array([0, 1, 2, 3, 4, 5, 6]), seeds=[0], width=0.125,
                              input_size=40, iterations=150, n_basic_train=100, n_multilabel_train=50,
                              profile="smoke")
    assert "DLP-CNN > baseDCNN holds, as in the paper" in text and "in 1 of 2" in text
    assert not [line for line in text.splitlines() if line.startswith("    ")]  # no markdown code blocks


def test_stats_cross_database_and_discussion(real_root):
    from fercore.datasets import load
    from fercore.paper import paper_values

    raf, peaks = load("rafdb", real_root, subset="basic"), load("ckplus", real_root, frames="peak")
    scores, titles, size = stats.cross_database(raf, peaks, max_images=30, C_grid=(1.0,), gamma_grid=(1.0,), cv=1)
    assert set(scores) == set(titles) == {"wild_to_lab", "lab_to_wild"} and 0 < size <= 30
    text = stats.discussion(paper_values(printed=True), crossdb=scores, crossdb_size=size)
    assert f"with {size} images per domain" in text
    assert stats.discussion({}) == "Not enough data under the data root for a discussion."


def test_stats_table1_rates_against_the_paper(real_root):
    from fercore.datasets import load

    raf, peaks = load("rafdb", real_root, subset="basic"), load("ckplus", real_root, frames="peak")
    wild, lab, paper, paper_marks, ours = stats.table1_rates(raf, peaks, (1, 12, 25), 0.5)
    assert wild.shape == lab.shape == paper.shape == paper_marks.shape == ours.shape == (6, 3)
    agreement = stats.table1_agreement(wild, paper, ours, paper_marks)
    assert agreement["in_both"] <= min(agreement["disparities"], agreement["starred_paper"])
