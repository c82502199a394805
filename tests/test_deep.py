"""Input protocol, training recipes and feature extraction of the deep chapters."""

import numpy as np
import pandas as pd
import pytest
import torch

from fercore.deep import extract_features, pretrained_features, train_feature_net
from fercore.inputs import center_crops, crop_source, random_crops
from fercore.losses.objectives import FeatureObjective
from fercore.nets import BaseDCNN
from fercore.train import Schedule


def faces(n=48, seed=0):
    """Two classes that differ in which half of the face is bright."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (n, 100, 100), dtype=np.uint8)
    labels = np.arange(n) % 2
    images[labels == 0, :50] += 150
    images[labels == 1, 50:] += 150
    return images, labels


def test_crops_and_resizing():
    x = torch.arange(100 * 100, dtype=torch.int64).reshape(1, 1, 100, 100).repeat(5, 1, 1, 1)
    x = (x % 251).to(torch.uint8)
    crops = random_crops(x, 90, torch.Generator().manual_seed(0))
    assert crops.shape == (5, 1, 90, 90) and crops.dtype == torch.float32
    for crop in crops:  # each crop is a contiguous 90×90 window of the face
        windows = x[0, 0].float().unfold(0, 90, 1).unfold(1, 90, 1) / 255
        assert (windows == crop[0]).all(-1).all(-1).any()
    centre = center_crops(x, 90)
    torch.testing.assert_close(centre[0, 0], x[0, 0, 5:95, 5:95].float() / 255)
    assert crop_source(np.zeros((2, 100, 100), np.uint8)).shape == (2, 1, 100, 100)
    assert crop_source(np.zeros((2, 100, 100), np.uint8), input_size=48).shape == (2, 1, 53, 53)
    with pytest.raises(ValueError, match="uint8"):
        crop_source(np.zeros((2, 100, 100), np.float32))
    with pytest.raises(ValueError, match="crop size"):
        center_crops(x, 120)


@pytest.mark.parametrize("objective, terms", [("softmax", {"ce"}), ("center", {"ce", "locality"}),
                                              ("dlp", {"ce", "locality"}), ("soft_ce", {"ce"}),
                                              ("dbm", {"ce", "locality"})])
def test_objectives_return_named_terms(objective, terms):
    model = BaseDCNN(num_classes=6, width=0.125, input_size=16, feature_dim=12)
    images = torch.rand(10, 1, 16, 16)
    multilabel = objective in ("soft_ce", "dbm")
    labels = (torch.rand(10, 6) > 0.5).float() + torch.eye(6)[torch.arange(10) % 6] if multilabel \
        else torch.arange(10) % 6
    out = FeatureObjective(objective, num_classes=6, feature_dim=12, lam=0.5, k=3)(model, (images, labels))
    assert set(out) == terms | {"loss"}
    if "locality" in out:
        torch.testing.assert_close(out["loss"], out["ce"] + 0.5 * out["locality"])


def test_train_then_extract_is_deterministic_and_learns():
    images, labels = faces()
    schedule = Schedule(iterations=60, lr=0.01, milestones=(40,))
    kwargs = dict(width=0.125, input_size=24, feature_dim=32, schedule=schedule, batch_size=16,
                  device="cpu", seed=0)
    model, history = train_feature_net(images, labels, "dlp", k=3, **kwargs)
    again, _ = train_feature_net(images, labels, "dlp", k=3, **kwargs)
    assert history["loss"].iloc[-10:].mean() < history["loss"].iloc[:10].mean()
    features = extract_features(model, images, batch_size=20)
    assert features.shape == (48, 32) and features.dtype == np.float32
    np.testing.assert_array_equal(features, extract_features(again, images, batch_size=20))
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="label vectors"):
        train_feature_net(images, labels, "dbm", **kwargs)


def test_pretrained_features_need_a_local_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="alexnet.pth"):
        pretrained_features("alexnet", tmp_path / "alexnet.pth", np.zeros((1, 100, 100), np.uint8))
    with pytest.raises(ValueError, match="arch"):
        pretrained_features("resnet", tmp_path / "x.pth", np.zeros((1, 100, 100), np.uint8))


@pytest.mark.parametrize("objective", ["softmax", "center", "soft_ce", "dbm"])
def test_every_objective_trains_deterministically_on_the_cpu(objective):
    images, labels = faces(16)
    vectors = np.eye(2, dtype=np.float32)[labels] + 0.25
    extra = {"label_vectors": vectors} if objective == "dbm" else {}
    kwargs = dict(width=0.125, input_size=16, feature_dim=8, schedule=Schedule(iterations=3),
                  batch_size=8, device="cpu", k=2, **extra)
    target = vectors if objective in ("soft_ce", "dbm") else labels
    a, history = train_feature_net(images, target, objective, **kwargs)
    b, _ = train_feature_net(images, target, objective, **kwargs)
    assert len(history) == 3 and np.isfinite(history["loss"]).all()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_single_label_scores_summarized_over_seeds():
    from fercore.classifiers import LDANearestNeighbor
    from fercore.deep import single_label_scores
    from fercore.seeds import summarize

    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = rng.normal(size=(60, 5)) + 3 * np.eye(3, 5)[y]
    scores = single_label_scores(X[:45], y[:45], X[45:], y[45:], ("a", "b", "c"),
                                 {"lda": LDANearestNeighbor(pca_components=5)})
    assert scores["metric"].tolist() == ["mean_diag", "a", "b", "c"]
    assert scores["value"].iloc[0] == pytest.approx(scores["value"].iloc[1:].mean())
    frame = scores.assign(seed=0)
    frame = pd.concat([frame, frame.assign(seed=1, value=frame["value"] - 0.1)])
    summary = summarize(frame, ["classifier", "metric"])
    assert summary["n"].tolist() == [2] * 4
    assert summary["sd"].iloc[0] == pytest.approx(np.std([0, 0.1], ddof=1))


def test_pretrained_features_path_with_a_stand_in_network(tmp_path, monkeypatch):
    """The ImageNet code path (no real weights here): a tiny stand-in with AlexNet's layout."""
    import torchvision

    class TinyImageNet(torch.nn.Module):
        def __init__(self, weights=None):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 8, stride=8), torch.nn.ReLU(),
                                                torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
            self.classifier = torch.nn.Sequential(torch.nn.Linear(16, 6), torch.nn.ReLU(),
                                                  torch.nn.Linear(6, 1000))

        def forward(self, x):
            return self.classifier(self.features(x))

    monkeypatch.setattr(torchvision.models, "alexnet", TinyImageNet)
    torch.save(TinyImageNet().state_dict(), tmp_path / "alexnet.pth")
    images, _ = faces(5)
    out = pretrained_features("alexnet", tmp_path / "alexnet.pth", images, device="cpu")
    assert out.shape == (5, 6) and (out >= 0).all()  # the penultimate layer, after its ReLU


def test_crops_without_flips_are_the_plain_random_crops():
    """The adaptation stages used :class:`fercore.inputs.RandomCrop`; ``CropFlip(flip=False)``
    draws the same crops from the same generator, so their numbers stay."""
    from fercore.inputs import crop_flip

    x = torch.randint(0, 256, (32, 1, 100, 100), dtype=torch.uint8)
    a, b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for _ in range(3):
        assert torch.equal(crop_flip(x, 90, a, flip=False), random_crops(x, 90, b))
    assert torch.equal(a.get_state(), b.get_state())
