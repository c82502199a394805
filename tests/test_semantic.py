"""Semantic neighbourhood-aware training (Fu et al. Algorithm 1) and its evaluation helpers."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from fercore.batches import BalancedBatches
from fercore.experiments.semantic_ae import mask_by_class, mask_precision_recall, sequence_failures, sequence_groups
from fercore.inputs import CropFlip
from fercore.losses.objectives import NeighbourhoodAwareObjective, PixelLoss, RefinementObjective
from fercore.losses.semantic import FocalLoss
from fercore.nets.autoencoder import AsymmetricAutoencoder, Critic
from fercore.nets.twobranch import TwoBranchNet
from fercore.semantic import (
    AdversarialPair,
    AdversarialTrainer,
    NeighbourGenerator,
    NeighbourhoodAwareClassifier,
    SemanticAutoencoder,
)

SIDE = 32


def faces(n=84, seed=0):
    """Tiny class-dependent images: class k brightens row band k."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 7
    X = rng.integers(0, 60, (n, SIDE, SIDE)).astype(np.uint8)
    for k in range(7):
        X[y == k, 4 * k:4 * k + 4, :] += 150
    return X, y


def test_balanced_batches_hold_every_class_equally_and_resume():
    labels = torch.tensor([0] * 20 + [1] * 3 + [2] * 7)
    index = torch.arange(30)
    batches = BalancedBatches(index, labels, labels=labels, batch_size=6, seed=0)
    for _ in range(5):
        _, y = next(batches)
        assert torch.bincount(y, minlength=3).tolist() == [2, 2, 2]
    state = batches.state_dict()
    ahead = [next(batches)[0] for _ in range(3)]
    batches.load_state_dict(state)
    assert all(torch.equal(a, next(batches)[0]) for a in ahead)
    with pytest.raises(ValueError, match="multiple of the 3 classes"):
        BalancedBatches(index, labels=labels, batch_size=7)
    with pytest.raises(ValueError, match="no samples"):
        BalancedBatches(index, labels=labels, batch_size=8, num_classes=4)


def make_objective(threshold):
    torch.manual_seed(0)
    ae = AsymmetricAutoencoder(SIDE, width=0.25).eval()
    return NeighbourhoodAwareObjective(FocalLoss(0.0, reduction="none"),
                                       NeighbourGenerator(ae, 2.0), threshold)


def test_masked_samples_contribute_zero_gradient():
    X, y = faces(14)
    images, labels, index = torch.from_numpy(X).unsqueeze(1), torch.from_numpy(y), torch.arange(14)
    torch.manual_seed(0)
    net = TwoBranchNet(7, SIDE, width=0.125).eval()  # eval: samples do not interact via batch norm
    objective = make_objective("batch")
    seen = []
    forward_all = net.forward_all

    def watched(x):
        if not seen:  # the training forward; later calls are the no-grad divergence passes
            x = x.detach().requires_grad_(True)
            seen.append(x)
        return forward_all(x)

    net.forward_all = watched
    objective(net, (images, labels, index))["loss"].backward()
    _, _, divergence, mask, threshold = objective.records[-1]
    assert threshold.item() == pytest.approx(divergence.mean().item())
    assert 0 < mask.sum() < len(mask)
    per_row = seen[0].grad.flatten(1).abs().sum(1)
    assert torch.all(per_row[~mask] == 0) and torch.all(per_row[mask] > 0)
    got = [p.grad.clone() for p in net.parameters()]
    # the same gradient as the summed loss of the kept samples alone, over the batch size
    net.zero_grad()
    kept = mask.nonzero().flatten()
    logits = forward_all(images[kept].float() / 255)
    sum(F.cross_entropy(l, labels[kept], reduction="sum") for l in logits).div(len(mask)).backward()
    for a, p in zip(got, net.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_mask_log_lists_every_sample_of_every_step():
    X, y = faces(42)
    clf = NeighbourhoodAwareClassifier(
        method="BT", neighbours=make_objective("batch").neighbours, batch_size=14, iterations=3,
        input_size=SIDE, width=0.125, device="cpu", seed=0).fit(X, y)
    log = clf.mask_log_
    assert len(log) == 3 * 14 and sorted(log["step"].unique()) == [0, 1, 2]
    for _, step in log.groupby("step"):
        assert np.allclose(step["threshold"], step["divergence"].mean(), rtol=1e-5)
        assert (step["masked"] == (step["divergence"] >= step["threshold"])).all()
    assert clf.history_["masked_fraction"].between(0, 1).all()


def test_mask_starts_after_mask_start_of_the_run():
    X, y = faces(42)
    clf = NeighbourhoodAwareClassifier(
        method="BT", neighbours=make_objective("batch").neighbours, mask_start=0.5, batch_size=14,
        iterations=4, input_size=SIDE, width=0.125, device="cpu", seed=0).fit(X, y)
    assert sorted(clf.mask_log_["step"].unique()) == [2, 3]
    history = clf.history_.set_index("step")
    assert (history.loc[[0, 1], "masked_fraction"] == 0).all()
    assert np.isinf(history.loc[[0, 1], "threshold"]).all()
    assert (history.loc[[2, 3], "masked_fraction"] > 0).all()
    with pytest.raises(ValueError, match="mask_start"):
        NeighbourhoodAwareClassifier(method="BT", neighbours=clf.neighbours, mask_start=1.0).fit(X, y)


def test_autoencoder_score_is_the_pixel_r2_of_its_reconstructions():
    X, _ = faces(28)
    ae = SemanticAutoencoder(input_size=SIDE, width=0.125, pretrain_iterations=2, pretrain_batch_size=14,
                             refine_iterations=0, device="cpu", seed=0).fit(X)
    x, r = X.reshape(len(X), -1).astype(float), ae.reconstruct(X).reshape(len(X), -1).astype(float)
    by_hand = 1 - ((x - r) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert ae.score(X) == pytest.approx(by_hand)


def test_autoencoder_and_classifier_fit_deterministically():
    X, y = faces(42)
    ae = SemanticAutoencoder(input_size=SIDE, width=0.125, pretrain_iterations=2,
                             pretrain_batch_size=21, refine_iterations=2, refine_batch_size=14,
                             device="cpu", seed=0)
    ae.pretrain(X)
    plain = ae.reconstruct(X[:4])
    base = NeighbourhoodAwareClassifier(batch_size=14, iterations=2, input_size=SIDE, width=0.125,
                                        device="cpu").fit(X, y)
    ae.refine(X, perceptual_net=base.net_)
    assert set(ae.history_) == {"pretrain", "refine"}
    assert {"ae", "adv", "rec", "critic"} <= set(ae.history_["refine"].columns)
    assert plain.shape == ae.reconstruct(X[:4]).shape == (4, SIDE, SIDE)
    assert ae.transform(X).shape == (len(X), 64) and ae.code_std_.shape == (64,)
    assert ae.neighbours(X[:4], 0.5, seed=1).dtype == np.uint8
    runs = [NeighbourhoodAwareClassifier(method="T", neighbours=ae.neighbour_generator(0.5),
                                         threshold=1e-3, loss="ce", balance="weighted",
                                         batch_size=14, iterations=2, input_size=SIDE,
                                         width=0.125, device="cpu", seed=3).fit(X, y)
            for _ in range(2)]
    assert np.array_equal(runs[0].predict_proba(X), runs[1].predict_proba(X))
    assert runs[0].predict(X).shape == y.shape


def test_balanced_batches_apply_their_transform():
    labels = torch.tensor([0, 1] * 6)
    images = torch.arange(12 * 36, dtype=torch.uint8).reshape(12, 1, 6, 6)
    plain = BalancedBatches(images, labels, labels=labels, batch_size=4, seed=0)
    cropped = BalancedBatches(images, labels, labels=labels, batch_size=4, seed=0, transform=CropFlip(4, flip=False))
    (faces_, y), (crops, y2) = next(plain), next(cropped)
    assert crops.shape == (4, 1, 4, 4) and crops.dtype == torch.float32 and torch.equal(y, y2)
    assert all(any(torch.equal(c, f[:, i:i + 4, j:j + 4].float() / 255) for i in range(3) for j in range(3))
               for c, f in zip(crops, faces_))


def test_classifier_records_a_curve_of_the_run_and_takes_the_recipe():
    from fercore.experiments.semantic_ae import curve_rows, mean_diagonal_curve

    X, y = faces(42)
    settings = dict(batch_size=14, iterations=10, input_size=SIDE, width=0.125, device="cpu", seed=0, pad=2, flip=True,
                    warmup=0.2, lr_schedule="cosine")
    clf = NeighbourhoodAwareClassifier(**settings)
    clf.fit(X, y, curve=mean_diagonal_curve(clf, X, y, X[:21], y[:21], 3))
    plain = NeighbourhoodAwareClassifier(**settings).fit(X, y)
    assert list(clf.curve_.columns) == ["step", "images", "test", "train"] and clf.curve_["step"].iloc[-1] == 10
    assert clf.curve_["images"].iloc[-1] == 10 * 14 and plain.curve_.empty
    assert np.array_equal(clf.predict_proba(X), plain.predict_proba(X))  # recording does not change the run
    assert clf.history_["lr"].iloc[0] < clf.history_["lr"].max() and clf.history_["lr"].iloc[-1] < 0.01 / 10
    unaugmented = NeighbourhoodAwareClassifier(**{**settings, "pad": 0, "flip": False}).fit(X, y)
    assert not np.array_equal(unaugmented.predict_proba(X), plain.predict_proba(X))
    rows = curve_rows({"without": [clf, plain]})
    assert set(rows["model"]) == {"without"} and len(rows) == len(clf.curve_)


def test_full_profile_keeps_the_papers_training():
    from fercore.parameters import get_profile

    full = get_profile("full")["chapters"]["semantic_ae"]
    assert (full["warmup"], full["lr_schedule"], full["pad"], full["flip"], full["mask_start"]) == (0.0, "step", 0, False, 0.0)
    assert full["lr_milestones"] == [0.2, 0.4, 0.6, 0.8] and full["lr"] == 0.01 and full["batch_size"] == 63  # §IV-B


def test_classifier_rejects_bad_settings():
    X, y = faces(14)
    with pytest.raises(ValueError, match="method"):
        NeighbourhoodAwareClassifier(method="median").fit(X, y)
    with pytest.raises(ValueError, match="neighbour generator"):
        NeighbourhoodAwareClassifier(method="BT").fit(X, y)
    with pytest.raises(ValueError, match="input_size"):
        NeighbourhoodAwareClassifier(method="T", neighbours=make_objective(0.1).neighbours,
                                     input_size=48).fit(X, y)


def test_mask_precision_and_recall_hand_case():
    log = pd.DataFrame({"step": [0, 0, 0, 0, 1, 1, 1, 1], "sample": [0, 1, 2, 3, 0, 1, 2, 3],
                        "masked": [True, True, False, False, True, False, False, False]})
    noisy = np.array([True, False, True, False])
    whole = mask_precision_recall(log, noisy).iloc[0]
    assert whole["precision"] == pytest.approx(2 / 3) and whole["recall"] == pytest.approx(2 / 4)
    assert whole["noise_rate"] == pytest.approx(0.5) and whole["masked_fraction"] == pytest.approx(3 / 8)
    per_step = mask_precision_recall(log, noisy, bins=2)
    assert per_step["precision"].tolist() == pytest.approx([0.5, 1.0])
    assert per_step["recall"].tolist() == pytest.approx([0.5, 0.5])


def test_mask_by_class_hand_case():
    log = pd.DataFrame({"step": [0, 0, 0, 1, 1, 1], "sample": [0, 1, 2, 0, 1, 2],
                        "masked": [True, False, True, True, False, False]})
    table = mask_by_class(log, labels=[0, 1, 1], class_names=["a", "b"], noisy=[True, False, False])
    assert table.loc["a", "masked (%)"] == pytest.approx(100) and table.loc["b", "masked (%)"] == pytest.approx(25)
    assert table.loc["a", "share of all masks (%)"] == pytest.approx(200 / 3)
    assert table.loc["a", "precision (%)"] == pytest.approx(100) and table.loc["b", "precision (%)"] == pytest.approx(0)


def test_sequence_groups_and_failure_cases():
    meta = pd.DataFrame({"sequence": ["a"] * 6 + ["b"] * 3 + ["c"] * 5,
                         "frame": [1, 2, 3, 4, 5, 6, 1, 2, 3, 5, 4, 3, 2, 1]})
    peaks, preceding = sequence_groups(meta, before=4)
    assert peaks.tolist() == [5, 9]  # b is too short; c's peak is its highest frame
    assert preceding.tolist() == [[1, 2, 3, 4], [13, 12, 11, 10]]
    predictions = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [2, 2, 2, 2], [1, 2, 1, 2]])
    labels = np.array([0, 0, 0, 0])
    assert sequence_failures(predictions, labels) == {"fc": 3, "cfc": 1}


def test_refinement_loss_is_eq8_with_a_decaying_lambda_ae():
    torch.manual_seed(0)
    pair = AdversarialPair(AsymmetricAutoencoder(16, width=0.25), Critic(16, width=0.25)).train()
    objective = RefinementObjective(PixelLoss(), lambda_ae=1e-3, lambda_ae_every=5, lambda_adv=5.0, lambda_rec=1.0)
    real = torch.rand(4, 1, 16, 16)
    for step, lam in ((0, 1e-3), (4, 1e-3), (5, 1e-4), (10, 1e-5)):
        terms = objective(pair, real, step)
        expected = lam * terms["ae"] + 5.0 * terms["adv"] + terms["rec"]
        assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert not pair.autoencoder.encoder.training


def test_critic_is_updated_in_the_warmup_then_once_per_ten_steps():
    torch.manual_seed(0)
    pair = AdversarialPair(AsymmetricAutoencoder(16, width=0.25), Critic(16, width=0.25))
    trainer = AdversarialTrainer(pair, RefinementObjective(PixelLoss()), 25, critic_every=10,
                                 critic_warmup=3, device="cpu")
    images = torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8)
    encoder_before = [p.clone() for p in pair.autoencoder.encoder.parameters()]
    updated = []
    for step in range(25):
        before = [p.clone() for p in pair.critic.parameters()]
        trainer.step = step
        trainer.update((images,))
        updated.append(any(not torch.equal(a, b) for a, b in zip(before, pair.critic.parameters())))
    assert [s for s, u in enumerate(updated) if u] == [0, 1, 2, 10, 20]
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, pair.autoencoder.encoder.parameters()))
    assert max(p.abs().max().item() for p in pair.critic.parameters()) <= pair.critic.clip
