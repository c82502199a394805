"""baseDCNN (RAF-DB Table 2)."""

import pytest
import torch

from fercore.nets import BaseDCNN


def test_paper_network_shapes():
    model = BaseDCNN()
    convs = [m for m in model.conv if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 96, 128, 128, 256, 256]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    # 90 -> 45 -> 23 -> 12 with Caffe's rounding-up pooling
    assert model.embedding[1].in_features == 256 * 12 * 12
    assert model.embedding[1].out_features == 2000
    assert model.dropout.p == 0.3 and model.classifier.out_features == 7
    x = torch.rand(2, 1, 90, 90)
    logits, features = model.eval().forward_features(x)
    assert logits.shape == (2, 7) and features.shape == (2, 2000)
    assert torch.equal(features, model.features(x)) and torch.equal(logits, model(x))
    assert (features >= 0).all()  # the feature is taken after the ReLU


def test_msra_init_and_zero_bias():
    torch.manual_seed(0)
    model = BaseDCNN(width=0.5, input_size=32, feature_dim=500)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = m.weight[0].numel()
            assert m.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)
            assert torch.count_nonzero(m.bias) == 0


def test_width_and_input_size_options():
    model = BaseDCNN(num_classes=6, width=0.125, input_size=48, feature_dim=64)
    convs = [m for m in model.conv if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 12, 16, 16, 32, 32]
    assert model.embedding[1].in_features == 32 * 6 * 6
    assert model(torch.rand(3, 1, 48, 48)).shape == (3, 6)


def test_parameter_groups_split_the_last_layer():
    model = BaseDCNN(width=0.125, input_size=16, feature_dim=8)
    body, head = model.parameter_groups(weight_decay=1e-4, classifier_weight_decay=1e-3)
    assert body["weight_decay"] == 1e-4 and head["weight_decay"] == 1e-3
    assert len(body["params"]) + len(head["params"]) == len(list(model.parameters()))
    assert head["params"][0] is model.classifier.weight


@pytest.mark.parametrize("kwargs, match", [({"width": 0}, "width"), ({"input_size": 4}, "input_size"),
                                           ({"dropout": 1.0}, "dropout"), ({"num_classes": 0}, "num_classes")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BaseDCNN(**kwargs)
