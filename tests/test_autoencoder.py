"""The asymmetric autoencoder, critic (Fu et al. Table I) and two-branch network (Table II)."""

import pytest
import torch

from fercore.nets.autoencoder import AsymmetricAutoencoder, Critic, ResidualBlock
from fercore.nets.twobranch import TwoBranchNet


@pytest.fixture(scope="module")
def autoencoder():
    torch.manual_seed(0)
    return AsymmetricAutoencoder()


def test_encoder_follows_table_one(autoencoder):
    x = torch.rand(2, 1, 112, 112)
    code, features = autoencoder.encoder(x)
    assert code.shape == (2, 64)
    assert [tuple(f.shape[1:]) for f in features] == [
        (1, 112, 112), (16, 56, 56), (32, 28, 28), (64, 14, 14), (80, 7, 7)]
    assert features[-1].abs().max() <= 1  # tanh on the last convolution


def test_decoder_outputs_112_pixels_and_the_encoder_scales(autoencoder):
    x = torch.rand(2, 1, 112, 112)
    image, maps, targets = autoencoder.reconstruct(x)
    assert image.shape == (2, 1, 112, 112)
    assert 0 <= image.min() and image.max() <= 1
    assert [m.shape for m in maps] == [t.shape for t in targets]
    assert not any(t.requires_grad for t in targets)
    blocks = [m for m in autoencoder.decoder.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 9  # two per stage, one at the output


def test_odd_input_sides_are_retraced():
    ae = AsymmetricAutoencoder(input_size=56, width=0.25)
    x = torch.rand(3, 1, 56, 56)
    image, maps, targets = ae.reconstruct(x)
    assert image.shape == x.shape
    assert [m.shape for m in maps] == [t.shape for t in targets]


def test_dropout_corrupts_only_in_training(autoencoder):
    x = torch.rand(2, 1, 112, 112)
    autoencoder.train()
    torch.manual_seed(1)
    a = autoencoder.encode(x, corrupt=True)
    b = autoencoder.encode(x, corrupt=True)
    assert not torch.allclose(a, b)
    autoencoder.eval()
    assert torch.equal(autoencoder.encode(x, corrupt=True), autoencoder.encode(x, corrupt=True))


def test_neighbour_without_noise_is_the_reconstruction(autoencoder):
    autoencoder.eval()
    x = torch.rand(2, 1, 112, 112)
    with torch.no_grad():
        assert torch.allclose(autoencoder.neighbour(x, 0.0), autoencoder(x))
        g = torch.Generator().manual_seed(0)
        assert not torch.allclose(autoencoder.neighbour(x, 0.5, generator=g), autoencoder(x))


def test_bad_input_names_the_expected_shape(autoencoder):
    with pytest.raises(ValueError, match="112, 112"):
        autoencoder.encode(torch.rand(2, 1, 100, 100))
    with pytest.raises(ValueError, match="input_size"):
        AsymmetricAutoencoder(input_size=8)


def test_critic_scores_and_clips():
    critic = Critic(input_size=112, width=0.5)
    with torch.no_grad():
        for p in critic.parameters():
            p.uniform_(-1, 1)
    critic.clip_weights()
    assert max(p.abs().max().item() for p in critic.parameters()) <= 0.01
    assert critic(torch.rand(4, 1, 112, 112)).shape == (4,)


def test_two_branch_net_follows_table_two():
    torch.manual_seed(0)
    net = TwoBranchNet(num_classes=7).eval()
    x = torch.rand(2, 1, 112, 112)
    with torch.no_grad():
        fused, ori, half = net.forward_all(x)
        maps = net.conv_features(x)
        _, half_maps = net.half_branch(torch.nn.functional.avg_pool2d(x, 2))
        assert torch.equal(net(x), fused)
    assert fused.shape == ori.shape == half.shape == (2, 7)
    assert [tuple(m.shape[1:]) for m in maps] == [(256, 14, 14), (512, 7, 7), (128, 7, 7)]
    assert [tuple(m.shape[1:]) for m in half_maps] == [
        (64, 28, 28), (128, 14, 14), (256, 7, 7), (512, 3, 3), (128, 3, 3)]
    assert net.fuse.in_features == 64 + 32


def test_two_branch_net_rejects_bad_shapes():
    net = TwoBranchNet(input_size=48, width=0.25)
    with pytest.raises(ValueError, match="48, 48"):
        net(torch.rand(2, 1, 112, 112))
    with pytest.raises(ValueError, match="num_classes"):
        TwoBranchNet(num_classes=1)
