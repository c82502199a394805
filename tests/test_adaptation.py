"""DBM-DACNN training glue (RAF-ML §5, Algorithm 3) and the §6.5 protocol helpers."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from fercore.adaptation import domain_mmd, jaffe_label_sets, pretrain_source_nets, replace_head, train_transfer_nets
from fercore.batches import PairedBatches, RandomBatches
from fercore.datasets import FaceSet
from fercore.deep import extract_features, train_feature_net
from fercore.curves import curve_summary
from fercore.experiments.domain_adaptation import (
    TABLE5_METRICS,
    adaptation_curves,
    adaptation_points,
    adaptation_text,
    curve_text,
    m2m_scores,
    m2s_scores,
    mmd_table,
    pretrain_evaluate,
    pretrain_over_seeds,
    pretrain_reading,
    run_transfer,
    select_weights,
    top_label_chance,
)
from fercore.labels import EMOTIONS6
from fercore.losses import EntropyLoss, mk_mmd
from fercore.losses.objectives import DomainAdaptationObjective, FeatureObjective
from fercore.nets import BaseDCNN
from fercore.train import Schedule, Trainer


def tiny_net(seed=0, classes=6):
    torch.manual_seed(seed)
    return BaseDCNN(classes, width=0.125, input_size=16, feature_dim=32, dropout=0.0)


def toy_domains(n=64, seed=0):
    """Source faces and a brighter target: a shift the embedding sees at once."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, 200, (n, 20, 20)).astype(np.uint8)
    target = (rng.integers(0, 200, (n, 20, 20)) + 55).astype(np.uint8)
    labels = (rng.random((n, 6)) > 0.6).astype(np.float32)
    labels[:, 0] = 1
    return source, labels, target


def test_jaffe_label_sets_threshold_at_three_and_drop_unrated():
    ratings = np.array([[3.0, 2.9, 1.0, 4.2, 1.0, 1.0],
                        [2.9, 2.0, 1.5, 1.0, 2.99, 1.0],
                        [1.0, 1.0, 1.0, 1.0, 1.0, 3.01]])
    labels, keep = jaffe_label_sets(ratings)
    np.testing.assert_array_equal(labels, [[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(keep, [True, False, True])
    with pytest.raises(ValueError, match="NaN"):
        jaffe_label_sets([[np.nan] * 6])
    with pytest.raises(ValueError, match="ratings must be"):
        jaffe_label_sets([1.0, 2.0])


def test_paired_batches_resume_the_same_pairs():
    x, y = torch.arange(10.0), torch.arange(7.0)

    def pairs():
        return PairedBatches(RandomBatches(x, batch_size=3, seed=1), RandomBatches(y, batch_size=2, seed=2))

    a = pairs()
    [next(a) for _ in range(4)]
    state = a.state_dict()
    expected = [next(a) for _ in range(5)]
    b = pairs()
    b.load_state_dict(state)
    for (s1, t1), (s2, t2) in zip(expected, [next(b) for _ in range(5)]):
        assert torch.equal(s1[0], s2[0]) and torch.equal(t1[0], t2[0])
    assert next(PairedBatches(RandomBatches(x, batch_size=2)))[1] is None


def test_objective_is_the_sum_of_algorithm_3_terms():
    g = torch.Generator().manual_seed(0)
    model = tiny_net()
    xs, xt = torch.rand(8, 1, 16, 16, generator=g), torch.rand(6, 1, 16, 16, generator=g) + 0.2
    ys = (torch.rand(8, 6, generator=g) > 0.5).float()
    ys[:, 1] = 1
    batch = ((xs, ys), (xt,))
    terms = DomainAdaptationObjective(gamma=0.7, eta=0.3, k=3)(model, batch)
    source = FeatureObjective("dbm", 6, 32, k=3)(model, (xs, ys))
    logits_t, features_t = model.forward_features(xt)
    features_s = model.features(xs)
    expected = source["loss"] + 0.7 * mk_mmd(features_s, features_t) + 0.3 * EntropyLoss()(logits_t)
    torch.testing.assert_close(terms["loss"], expected)
    assert set(terms) == {"loss", "ce", "locality", "mmd", "entropy"}
    plain = DomainAdaptationObjective(gamma=0.0, eta=0.0, k=3)(model, ((xs, ys), None))
    torch.testing.assert_close(plain["loss"], source["loss"])
    with pytest.raises(ValueError, match="no target"):
        DomainAdaptationObjective(gamma=1.0)(model, ((xs, ys), None))
    with pytest.raises(ValueError, match="non-negative"):
        DomainAdaptationObjective(gamma=-1.0)


def test_target_terms_reach_the_network_through_the_target_images():
    model = tiny_net()
    xs, xt = torch.rand(8, 1, 16, 16), torch.rand(8, 1, 16, 16) + 0.3
    xt.requires_grad_(True)
    ys = torch.ones(8, 6)
    loss = DomainAdaptationObjective(gamma=1.0, eta=1.0, k=3)(model, ((xs, ys), (xt,)))["loss"]
    loss.backward()
    assert xt.grad.abs().sum() > 0


def test_mmd_term_aligns_the_domains_and_training_is_deterministic():
    source, labels, target = toy_domains()
    schedule = Schedule(iterations=30, lr=0.01)
    mmd = {}
    for gamma in (0.0, 2.0):
        model, history = train_feature_net(source, labels, "dbm", model=tiny_net(), target_images=target,
                                           gamma=gamma, schedule=schedule, batch_size=16, k=3, device="cpu")
        mmd[gamma] = domain_mmd(extract_features(model, source), extract_features(model, target))
        assert len(history) == 30 and ("mmd" in history) == (gamma > 0)
    assert mmd[2.0] < 0.2 * mmd[0.0]
    a, _ = train_feature_net(source, labels, "dbm", model=tiny_net(), target_images=target, gamma=1.0, eta=0.5,
                             schedule=Schedule(5), batch_size=16, k=3, device="cpu", seed=3)
    b, _ = train_feature_net(source, labels, "dbm", model=tiny_net(), target_images=target, gamma=1.0, eta=0.5,
                             schedule=Schedule(5), batch_size=16, k=3, device="cpu", seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    source, labels, target = toy_domains(n=32)
    common = dict(target_images=target, gamma=1.0, eta=0.5, batch_size=8, k=3, device="cpu", seed=1)
    full, _ = train_feature_net(source, labels, "dbm", model=tiny_net(), schedule=Schedule(6), **common)
    ckpt = tmp_path / "run.pt"
    update = Trainer.update

    def killed_after_three_steps(self, batch):
        if self.step >= 3:
            raise KeyboardInterrupt
        return update(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "update", killed_after_three_steps)
        with pytest.raises(KeyboardInterrupt):
            train_feature_net(source, labels, "dbm", model=tiny_net(), schedule=Schedule(6), checkpoint=ckpt,
                              checkpoint_every=1, **common)
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 3
    resumed, history = train_feature_net(source, labels, "dbm", model=tiny_net(), schedule=Schedule(6),
                                         checkpoint=ckpt, **common)
    assert list(history["step"]) == list(range(6))
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_bad_input():
    source, labels, target = toy_domains(n=16)
    with pytest.raises(ValueError, match="model's 6 classes"):
        train_feature_net(source, labels[:, :5], "dbm", model=tiny_net(), schedule=Schedule(1), device="cpu")
    with pytest.raises(ValueError, match="label vectors"):
        train_feature_net(source, labels.argmax(1), "dbm", model=tiny_net(), schedule=Schedule(1), device="cpu")
    with pytest.raises(ValueError, match="target_images"):
        train_feature_net(source, labels, "dbm", model=tiny_net(), gamma=1.0, schedule=Schedule(1), device="cpu")
    with pytest.raises(ValueError, match="non-negative"):
        train_feature_net(source, labels, "dbm", model=tiny_net(), target_images=target, gamma=-1.0,
                          schedule=Schedule(1), device="cpu")


def test_replace_head_and_fine_tune_on_single_labels():
    source, labels, _ = toy_domains(n=32)
    model = replace_head(tiny_net(), 7, seed=0)
    assert model.classifier.out_features == 7 and model.num_classes == 7
    one_hot = np.eye(7, dtype=np.float32)[np.arange(32) % 7]
    model, history = train_feature_net(source, one_hot, "soft_ce", model=model, schedule=Schedule(3), batch_size=8,
                                       device="cpu")
    assert list(history.columns[:4]) == ["step", "lr", "loss", "ce"]


def test_domain_mmd_is_scale_free_and_subsamples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(200, 8)) + 0.5
    assert domain_mmd(a, b) == pytest.approx(domain_mmd(10 * a, 10 * b))
    assert domain_mmd(a, b) > 10 * abs(domain_mmd(a[:150], a[150:]))
    assert domain_mmd(a, b, max_samples=100) != domain_mmd(a, b)


def toy_target(setting, n=40, seed=0):
    """A target whose faces carry their class as brightness: easy for any embedding."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n) % 4
    images = (rng.integers(0, 60, (n, 20, 20)) + 40 * classes[:, None, None]).astype(np.uint8)
    if setting == "m2m":
        labels = np.eye(6, dtype=np.float32)[classes]
        labels[::3, 5] = 1
        return FaceSet("jaffe", images, labels, EMOTIONS6, label_kind="multilabel")
    return FaceSet("ckplus", images, classes, EMOTIONS6[:4], subjects=np.arange(n) // 5)


def test_protocol_scores_on_separable_features():
    m2s = toy_target("m2s")
    features = np.eye(4)[m2s.labels] + 0.01 * np.random.default_rng(0).normal(size=(40, 4))
    scores = m2s_scores(m2s, features, seed=0)
    assert scores["accuracy"] == 1.0
    sfew = replace(m2s, name="sfew", split=np.where(np.arange(40) < 30, "train", "val"), subjects=None)
    assert m2s_scores(sfew, features)["accuracy"] == 1.0
    m2m = toy_target("m2m")
    table = m2m_scores(m2m, features, ["mlknn", "clr"], seed=0)
    assert set(table) == {(c, m) for c in ("mlknn", "clr") for m in TABLE5_METRICS}
    assert table[("mlknn", "average_precision")] > 0.8
    with pytest.raises(ValueError, match="2 subjects"):
        m2s_scores(replace(m2s, name="mmi", subjects=np.zeros(40)), features)
    with pytest.raises(ValueError, match="subjects"):
        m2s_scores(replace(m2s, subjects=None), features)


def test_run_transfer_and_weight_selection_on_toy_domains():
    source, labels, _ = toy_domains(n=48)
    targets = {"jaffe": toy_target("m2m"), "ckplus": toy_target("m2s")}
    training = dict(pretrain=Schedule(4), adapt=Schedule(3), gamma=0.5, eta=0.1, k=3, width=0.125, input_size=16,
                    feature_dim=32, batch_size=8, basedcnn=True, device="cpu")
    out = run_transfer(source, labels, targets, held_out_images=source[:20], seed=0, training=training,
                       multilabel_classifiers=["mlknn"], keep_features=True)
    assert set(out["accuracy"]["model"]) == {"dbm_cnn", "dbm_dacnn", "dbm_dacnn_entropy"}
    assert set(out["multilabel"]["model"]) == {"basedcnn", "dbm_cnn", "dbm_dacnn"}
    assert len(out["mmd"]) == 6 and out["features"][("ckplus", "dbm_dacnn")][1].shape == (40, 32)
    table = mmd_table(out["mmd"])
    assert table.set_index("target").loc["jaffe", "after_entropy_n"] == 0
    pretrained, _ = pretrain_source_nets(source, labels, pretrain=None, width=0.125, input_size=16, feature_dim=32)
    choice, scores = select_weights(pretrained, source, labels, {"ckplus": targets["ckplus"]}, gamma_grid=[0.1, 1.0],
                                    eta_grid=[0.0, 0.5], training=training, n_folds=2)
    assert choice["ckplus"][0] in (0.1, 1.0) and choice["ckplus"][1] in (0.0, 0.5)
    assert len(scores) == 4




def test_pretraining_curve_over_seeds_leaves_the_nets_as_without_it():
    source, labels, _ = toy_domains(n=48)
    target = toy_target("m2s")
    args = dict(pretrain=Schedule(6), width=0.125, input_size=16, feature_dim=32, batch_size=8, k=3, device="cpu")
    evaluate = pretrain_evaluate(source, labels, source[:16], labels[:16], target)
    nets, rows = pretrain_over_seeds([0, 1], source_images=source, source_labels=labels, curve_points=[2, 6],
                                     evaluate=evaluate, **args)
    assert set(nets) == {0, 1} and set(rows["seed"]) == {0, 1} and set(rows["model"]) == {"dbm_cnn", "basedcnn"}
    assert sorted(set(rows["step"])) == [2, 6] and set(rows["images"]) == {16, 48}
    assert rows[["test", "train", "target"]].apply(lambda c: c.between(0, 1)).all().all()
    plain, none = pretrain_over_seeds([1], source_images=source, source_labels=labels, **args)
    assert none.empty
    for a, b in zip(nets[1]["dbm_cnn"].parameters(), plain[1]["dbm_cnn"].parameters()):
        assert torch.equal(a, b)


def test_adaptation_curve_follows_every_stage_two_model_and_leaves_the_nets_as_without_it():
    source, labels, _ = toy_domains(n=48)
    targets = {"ckplus": toy_target("m2s")}
    training = dict(pretrain=Schedule(4), adapt=Schedule(6), gamma=0.5, eta=0.1, k=3, width=0.125, input_size=16,
                    feature_dim=32, batch_size=8, basedcnn=False, device="cpu")
    evaluate = pretrain_evaluate(source, labels, source[:16], labels[:16], targets["ckplus"])
    pretrained, pre_rows = pretrain_over_seeds([0], source_images=source, source_labels=labels, curve_points=[4],
                                               evaluate=evaluate, **{k: v for k, v in training.items()
                                                                     if k not in ("adapt", "gamma", "eta")})
    args = dict(held_out_images=source[:16], seed=0, training=training, pretrained=pretrained[0], n_folds=2)
    out = run_transfer(source, labels, targets, curve_on="ckplus", curve_points=adaptation_points(6, 2),
                       evaluate=evaluate, keep_features=True, **args)
    rows = out["curve"]
    assert set(rows["model"]) == {"dbm_cnn", "dbm_dacnn", "dbm_dacnn_entropy"}
    assert sorted(set(rows["step"])) == [7, 10] and sorted(set(rows["images"])) == [56, 80]  # after 4 pre-training steps
    assert rows[["test", "train", "target"]].apply(lambda c: c.between(0, 1)).all().all()
    plain = run_transfer(source, labels, targets, keep_features=True, **args)
    assert plain["curve"].empty
    for model in ("dbm_cnn", "dbm_dacnn", "dbm_dacnn_entropy"):
        np.testing.assert_array_equal(out["features"][("ckplus", model)][1], plain["features"][("ckplus", model)][1])
    joined = adaptation_curves(pre_rows, rows)
    assert (joined.groupby("model")["step"].min() == 4).all()      # every line starts at the pre-trained net
    summary = curve_summary(joined, by=["model"])
    assert "DBM-DACNN" in adaptation_text(summary, target="ckplus")


def test_adaptation_points_are_evenly_spaced():
    assert adaptation_points(100, 4) == [25, 50, 75, 100]
    assert adaptation_points(3, 6) == [1, 2, 3]
    with pytest.raises(ValueError, match="n_points"):
        adaptation_points(100, 0)


def test_flip_reaches_every_stage():
    source, labels, _ = toy_domains(n=32)
    args = dict(pretrain=Schedule(3), adapt=Schedule(3), width=0.125, input_size=16, feature_dim=32, batch_size=8,
                k=3, basedcnn=False, device="cpu")
    plain, _ = train_transfer_nets(source, labels, {"ckplus": (toy_target("m2s").images, "m2s")}, **args)
    flipped, _ = train_transfer_nets(source, labels, {"ckplus": (toy_target("m2s").images, "m2s")}, flip=True, **args)
    for model in ("dbm_cnn", "dbm_dacnn"):
        a, b = (next(n["ckplus"][model].parameters()) for n in (plain, flipped))
        assert not torch.equal(a, b)


def test_top_label_chance_and_the_pretraining_reading():
    train = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 1]], dtype=np.float32)
    assert top_label_chance(train, np.array([[1, 0, 0], [0, 0, 1]])) == 0.5
    accuracy = pd.DataFrame({"seed": [0, 1, 0, 1], "target": "sfew", "model": ["dbm_cnn"] * 2 + ["dbm_dacnn"] * 2,
                             "accuracy": [0.40, 0.42, 0.50, 0.52], "mean_diag": 0.0})

    def reading(test, train):
        rows = pd.DataFrame([{"seed": s, "model": "dbm_cnn", "step": step, "images": 8 * step, "test": t + 0.001 * s,
                              "train": tr, "target": 0.3} for s in (0, 1) for step, t, tr in zip((1, 2), test, train)])
        return pretrain_reading(curve_summary(rows, by=["model"]), chance=0.2)

    not_learned = reading(test=(0.21, 0.22), train=(0.21, 0.22))
    assert not not_learned["learned"] and not_learned["target"] == pytest.approx(0.3)
    assert "**Not yet learned.**" in curve_text(not_learned, accuracy, target="sfew", hog_svm=0.5)
    learned = reading(test=(0.6, 0.6), train=(0.7, 0.9))
    assert learned["learned"] and learned["flat"]
    text = curve_text(learned, accuracy, target="sfew", hog_svm=0.5)
    assert "**Learned.**" in text and "+10.0 points" in text
    assert "HOG reads SFEW 2.0 better" in text                            # features 0.3 against HOG 0.5
    assert "HOG reads" not in curve_text(learned, accuracy, target="sfew", hog_svm=0.2)
    rising = reading(test=(0.4, 0.6), train=(0.5, 0.9))
    assert "**Learned, still rising.**" in curve_text(rising, accuracy, target="sfew", hog_svm=0.5)
    worse = accuracy.assign(model=["dbm_dacnn"] * 2 + ["dbm_cnn"] * 2)
    assert "**Learned, and the effect is not there.**" in curve_text(learned, worse, target="sfew", hog_svm=0.5)
