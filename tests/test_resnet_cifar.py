"""CIFAR-style ResNets (He et al. 2015, §4.2) and the from-scratch VGG-16."""

import pytest
import torch

from fercore.nets.resnet_cifar import ResNetCIFAR, resnet110, resnet32
from fercore.nets.vgg import VGG16, vgg16


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_depths_and_parameter_counts_match_he_et_al():
    # He et al. Table 6 (CIFAR-10, option A shortcuts): ResNet-32 0.46 M, ResNet-110 1.7 M
    assert n_params(resnet32(num_classes=10, in_channels=3)) == pytest.approx(0.46e6, rel=0.01)
    assert n_params(resnet110(num_classes=10, in_channels=3)) == pytest.approx(1.7e6, rel=0.02)
    net = resnet32()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) + 1 == 32  # 31 convolutions + the classifier
    assert [len(s) for s in net.stages] == [5, 5, 5]
    assert len(resnet110().stages[0]) == 18


@pytest.mark.parametrize("side", [32, 48, 45])
def test_shapes_for_grayscale_input_of_any_side(side):
    net = resnet32(num_classes=7).eval()
    x = torch.randn(2, 1, side, side)
    logits, features = net.forward_features(x)
    assert logits.shape == (2, 7) and features.shape == (2, 64) == (2, net.feature_dim)
    torch.testing.assert_close(net(x), logits)
    torch.testing.assert_close(net.features(x), features)


def test_stages_use_16_32_64_channels_with_batch_norm():
    net = ResNetCIFAR(20)
    widths = [block.conv2.out_channels for stage in net.stages for block in stage]
    assert widths == [16] * 3 + [32] * 3 + [64] * 3
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 19
    assert ResNetCIFAR(20, width=0.5).feature_dim == 32


def test_option_a_shortcut_subsamples_and_zero_pads():
    block = ResNetCIFAR(20).stages[1][0]
    x = torch.randn(1, 16, 8, 8)
    short = block.shortcut(x)
    assert short.shape == (1, 32, 4, 4)
    torch.testing.assert_close(short[:, 8:24], x[:, :, ::2, ::2])
    assert short[:, :8].abs().sum() == 0 and short[:, 24:].abs().sum() == 0


def test_headless_trunk_returns_features():
    trunk = resnet32(num_classes=0).eval()
    x = torch.randn(3, 1, 32, 32)
    torch.testing.assert_close(trunk(x), trunk.features(x))


def test_trains_one_step_deterministically():
    def step():
        torch.manual_seed(0)
        net = resnet32(num_classes=3)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        x, y = torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0])
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        return net.classifier.weight.detach().clone()
    torch.testing.assert_close(step(), step(), rtol=0, atol=0)


def test_vgg16_has_thirteen_convolutions_and_takes_small_inputs():
    net = vgg16(num_classes=7, width=0.125, fc_dim=64).eval()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 13
    logits, features = net.forward_features(torch.randn(2, 1, 48, 48))
    assert logits.shape == (2, 7) and features.shape == (2, 64)
    full = VGG16(num_classes=1000, in_channels=3, batch_norm=False, pool_size=7)
    assert n_params(full) == 138_357_544  # torchvision's vgg16


def test_bad_arguments():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        ResNetCIFAR(33)
    with pytest.raises(ValueError, match="expected input"):
        resnet32().features(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=">= 32"):
        vgg16(width=0.125, fc_dim=8).features(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="dropout"):
        VGG16(dropout=1.0)
