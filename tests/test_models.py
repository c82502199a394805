"""The model store: save, find and reload trained networks; predict on aligned faces."""

import numpy as np
import pytest
import torch

from fercore.labels import EMOTIONS6
from fercore.models import (PROFILE_DIR_ENV, constructor_arguments, find_model, keep_spec, keep_trained, load_model,
                            model_path, params_fingerprint, predict_proba, save_model)
from fercore.nets import BaseDCNN, ResNetCIFAR


def small_net(seed=0):
    torch.manual_seed(seed)
    return BaseDCNN(7, width=0.125, input_size=40, feature_dim=64, dropout=0.2).eval()


def test_a_saved_net_reloads_with_weights_only_and_predicts_the_same(tmp_path):
    net = small_net()
    path = save_model(net, "dlp_dbm", "dlp", 3, "abc123", tmp_path)
    assert path == tmp_path / "models" / "dlp_dbm" / "dlp-seed3.pt"
    payload = torch.load(path, weights_only=True)
    assert payload["fingerprint"] == "abc123" and payload["seed"] == 3
    assert payload["config"] == {"num_classes": 7, "width": 0.125, "input_size": 40, "feature_dim": 64,
                                 "dropout": 0.2, "in_channels": 1}
    again, info = load_model("dlp_dbm/dlp", tmp_path)
    assert info["method"] == "dlp" and info["class_names"][0] == "surprise"
    faces = np.random.default_rng(0).integers(0, 256, (5, 100, 100), dtype=np.uint8)
    p = predict_proba(net, faces)
    assert p.shape == (5, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.array_equal(p, predict_proba(again, faces))


def test_find_model_picks_the_lowest_seed_or_the_one_asked_for(tmp_path):
    for seed in (2, 10, 1):
        save_model(small_net(seed), "ch", "softmax", seed, "f", tmp_path)
    assert find_model("ch/softmax", tmp_path).name == "softmax-seed1.pt"
    assert find_model("ch/softmax-seed10", tmp_path).name == "softmax-seed10.pt"
    with pytest.raises(FileNotFoundError, match=r"kept models: \['ch/softmax-seed1'"):
        find_model("ch/dlp", tmp_path)
    with pytest.raises(ValueError, match="CHAPTER/METHOD"):
        find_model("softmax", tmp_path)


def test_other_architectures_and_bad_files(tmp_path):
    net = ResNetCIFAR(depth=8, num_classes=6)
    assert constructor_arguments(net)["depth"] == 8
    save_model(net, "sjmt", "resnet", 0, params_fingerprint({"a": 1}), tmp_path, class_names=EMOTIONS6)
    again, _ = load_model("sjmt/resnet", tmp_path)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    bad = tmp_path / "models" / "x" / "junk-seed0.pt"
    bad.parent.mkdir(parents=True)
    bad.write_text("not a model")
    with pytest.raises(ValueError, match="junk-seed0.pt: not a saved fercore model"):
        load_model("x/junk", tmp_path)
    with pytest.raises(ValueError, match="plain name"):
        model_path(tmp_path, "../up", "m", 0)
    assert params_fingerprint({"a": 1}) == params_fingerprint({"a": 1}) != params_fingerprint({"a": 2})


def test_the_trainer_keeps_its_model_when_asked(tmp_path):
    from fercore.batches import RandomBatches
    from fercore.train import Schedule, Trainer

    net = small_net()
    images = torch.rand(8, 1, 40, 40)
    labels = torch.arange(8) % 7
    keep = {"chapter": "ch", "method": "softmax", "seed": 0, "profile_dir": tmp_path}
    trainer = Trainer(net, lambda m, b: {"loss": torch.nn.functional.cross_entropy(m(b[0]), b[1])},
                      Schedule(iterations=2), device="cpu", keep=keep)
    batches = RandomBatches(images, labels, batch_size=4)
    trainer.fit(batches)
    again, info = load_model("ch/softmax", tmp_path)
    assert info["fingerprint"] == trainer.fingerprint(batches) and info["fingerprint"]["seed"] == 0
    for a, b in zip(trainer.model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_chapters_keep_nets_only_inside_a_run(tmp_path, monkeypatch):
    net = BaseDCNN(6, width=0.125, input_size=40, feature_dim=16)
    monkeypatch.delenv(PROFILE_DIR_ENV, raising=False)
    assert keep_spec("dlp_dbm", "dlp", 0) is None
    assert keep_trained(net, "dlp_dbm", "dlp", 0, "f", class_names=EMOTIONS6) is None
    monkeypatch.setenv(PROFILE_DIR_ENV, str(tmp_path))
    assert keep_spec("dlp_dbm", "dlp", 2, class_names=EMOTIONS6) == {
        "chapter": "dlp_dbm", "method": "dlp", "seed": 2, "profile_dir": str(tmp_path), "class_names": EMOTIONS6}
    path = keep_trained(net, "domain_adaptation", "dbm_cnn", 1, "f", class_names=EMOTIONS6)
    assert path == model_path(tmp_path, "domain_adaptation", "dbm_cnn", 1) and path.is_file()
    assert load_model("domain_adaptation/dbm_cnn", tmp_path)[1]["class_names"] == list(EMOTIONS6)


def test_a_net_whose_outputs_do_not_match_its_class_names_is_refused(tmp_path):
    net = BaseDCNN(6, width=0.125, input_size=40, feature_dim=16)
    with pytest.raises(ValueError, match="6 outputs but 7 class names"):
        save_model(net, "dlp_dbm", "rafml_dbm", 0, "f", tmp_path)
