"""The training engine: schedule, determinism, exact resume, NaN stop, batches."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fercore.batches import PairedBatches, RandomBatches
from fercore.nets import BaseDCNN
from fercore.devices import resolve_device
import fercore.train as train_module
from fercore.train import Schedule, Trainer, cpu_precision, use_cpu_precision


def tiny_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 6, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def jitter(batch, generator):
    """Augmentation that draws from the batches' generator."""
    x, y = batch
    return x + 0.1 * torch.randn(x.shape, generator=generator), y


def cross_entropy(model, batch):
    x, y = batch
    logits = model(x)
    return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}


SCHEDULE = Schedule(iterations=2000, lr=0.05, milestones=(700, 1500), weight_decay=1e-3)


class Interrupted(Trainer):
    """A run killed after ``stop_at`` steps (as by Ctrl-C)."""

    stop_at = 1000

    def update(self, batch):
        if self.step >= self.stop_at:
            raise KeyboardInterrupt
        return super().update(batch)


def test_resume_after_interruption_is_bit_identical(tmp_path):
    x, y = data()
    straight = Trainer(tiny_net(0), cross_entropy, SCHEDULE, device="cpu", seed=3)
    straight.fit(RandomBatches(x, y, batch_size=16, seed=1, transform=jitter))

    checkpoint = tmp_path / "run.pt"
    first = Interrupted(tiny_net(0), cross_entropy, SCHEDULE, device="cpu", seed=3,
                        checkpoint=checkpoint, checkpoint_every=250)
    with pytest.raises(KeyboardInterrupt):
        first.fit(RandomBatches(x, y, batch_size=16, seed=1, transform=jitter))
    # a new process: fresh model (other init), fresh batches, other global RNG state
    torch.manual_seed(12345)
    second = Trainer(tiny_net(99), cross_entropy, SCHEDULE, device="cpu", seed=3,
                     checkpoint=checkpoint, checkpoint_every=250)
    history = second.fit(RandomBatches(x, y, batch_size=16, seed=1, transform=jitter))

    assert second.step == 2000 and len(history) == 2000
    for (name, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    pd_a, pd_b = straight.history(), history
    assert pd_a["loss"].tolist() == pd_b["loss"].tolist()


def test_same_seed_same_weights_other_seed_other_weights():
    x, y = data()
    schedule = Schedule(iterations=30, lr=0.05)
    runs = []
    for seed in (0, 0, 1):
        trainer = Trainer(tiny_net(0), cross_entropy, schedule, device="cpu", seed=seed)
        trainer.fit(RandomBatches(x, y, batch_size=16, seed=seed))
        runs.append(torch.cat([p.flatten() for p in trainer.model.parameters()]))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_step_schedule_and_log():
    x, y = data()
    schedule = Schedule(iterations=10, lr=0.1, milestones=(3, 8), gamma=0.1)
    trainer = Trainer(tiny_net(0), cross_entropy, schedule, device="cpu")
    history = trainer.fit(RandomBatches(x, y, batch_size=8))
    assert history["step"].tolist() == list(range(10))
    assert history["lr"].tolist() == pytest.approx([schedule.lr_at(s) for s in range(10)])
    assert history["lr"].tolist() == pytest.approx([0.1] * 3 + [0.01] * 5 + [0.001] * 2)
    assert {"loss", "accuracy"} <= set(history.columns)
    assert not trainer.model.training
    assert Schedule(20_000, milestones=(5_000, 18_000)).scaled(400).milestones == (100, 360)


def test_parameter_groups_keep_their_weight_decay():
    model = BaseDCNN(width=0.125, input_size=16, feature_dim=8)
    trainer = Trainer(model, cross_entropy, Schedule(5), param_groups=model.parameter_groups(),
                      device="cpu")
    decays = [g["weight_decay"] for g in trainer.optimizer.param_groups]
    assert decays == [5e-4, 2.5e-3]
    assert trainer.optimizer.param_groups[1]["params"] == list(model.classifier.parameters())


def test_nan_loss_stops_naming_the_step():
    x, y = data()
    calls = 0

    def exploding(model, batch):
        nonlocal calls
        calls += 1
        terms = cross_entropy(model, batch)
        if calls == 8:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    trainer = Trainer(tiny_net(0), exploding, Schedule(20), device="cpu")
    with pytest.raises(FloatingPointError, match="at step 7"):
        trainer.fit(RandomBatches(x, y, batch_size=8))


def test_loss_fn_must_return_loss_and_stateful_loss_is_checkpointed(tmp_path):
    x, y = data()
    trainer = Trainer(tiny_net(0), lambda m, b: {"ce": cross_entropy(m, b)["loss"]},
                      Schedule(2), device="cpu")
    with pytest.raises(ValueError, match="'loss' entry"):
        trainer.fit(RandomBatches(x, y, batch_size=8))

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros(()))

        def forward(self, model, batch):
            self.calls += 1
            return cross_entropy(model, batch)

    Trainer(tiny_net(0), Counting(), Schedule(5), device="cpu",
            checkpoint=tmp_path / "c.pt").fit(RandomBatches(x, y, batch_size=8))
    resumed = Counting()
    Trainer(tiny_net(0), resumed, Schedule(5), device="cpu", checkpoint=tmp_path / "c.pt").fit(
        RandomBatches(x, y, batch_size=8))
    assert resumed.calls.item() == 5


def test_random_batches_cover_each_epoch_once():
    idx = torch.arange(20)
    batches = RandomBatches(idx, batch_size=5, seed=0)
    epoch = torch.cat([next(batches)[0] for _ in range(4)])
    assert sorted(epoch.tolist()) == list(range(20))
    state = batches.state_dict()
    ahead = [next(batches)[0] for _ in range(6)]
    batches.load_state_dict(state)
    assert all(torch.equal(a, next(batches)[0]) for a in ahead)
    with pytest.raises(ValueError, match="differ in length"):
        RandomBatches(idx, idx[:3], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        RandomBatches(idx, batch_size=50)


def test_devices_and_bad_input(tmp_path):
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is visible"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="milestones"):
        Schedule(10, milestones=(5, 2))
    trainer = Trainer(tiny_net(0), cross_entropy, Schedule(2), device="cpu")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        trainer.load(tmp_path / "missing.pt")


def test_paired_batches_resume_both_streams(tmp_path):
    x, y = data()
    source = lambda: RandomBatches(x, y, batch_size=8, seed=1)  # noqa: E731
    target = lambda: RandomBatches(x[:40], batch_size=4, seed=2)  # noqa: E731

    def two_domain_loss(model, batch):
        (xs, ys), (xt,) = batch
        terms = cross_entropy(model, (xs, ys))
        terms["target_mean"] = model(xt).mean()
        return terms

    straight = Trainer(tiny_net(0), two_domain_loss, Schedule(12), device="cpu")
    straight.fit(PairedBatches(source(), target()))
    first = Interrupted(tiny_net(0), two_domain_loss, Schedule(12), device="cpu",
                        checkpoint=tmp_path / "z.pt", checkpoint_every=3)
    first.stop_at = 6
    with pytest.raises(KeyboardInterrupt):
        first.fit(PairedBatches(source(), target()))
    second = Trainer(tiny_net(5), two_domain_loss, Schedule(12), device="cpu",
                     checkpoint=tmp_path / "z.pt")
    history = second.fit(PairedBatches(source(), target()))
    assert "target_mean" in history
    assert all(torch.equal(a, b) for a, b in zip(straight.model.parameters(),
                                                  second.model.parameters()))


@pytest.fixture
def cpu_bf16():
    yield use_cpu_precision("bf16")
    use_cpu_precision("fp32")


def test_cpu_precision_sets_a_new_trainers_autocast(cpu_bf16):
    """After ``use_cpu_precision("bf16")`` a CPU trainer's convolutions run in bf16 (their outputs
    are bf16 under the loss) while its weights and its loss stay fp32; the run stays
    deterministic and differs from an fp32 run."""
    x = torch.randint(0, 256, (64, 1, 44, 44), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    y = torch.arange(64) % 7
    dtypes = {}

    def loss_fn(model, batch):
        images, labels = batch
        features = model.features(images.float() / 255)
        dtypes["features"] = features.dtype
        loss = F.cross_entropy(model.classifier(features), labels)
        dtypes["loss"] = loss.dtype
        return {"loss": loss}

    def weights(precision):
        use_cpu_precision(precision)
        torch.manual_seed(0)
        net = BaseDCNN(7, width=0.0625, input_size=44, feature_dim=32)
        trainer = Trainer(net, loss_fn, Schedule(iterations=3, lr=0.01), device="cpu", seed=0)
        assert trainer.amp == (precision == "bf16") and trainer.channels_last
        trainer.fit(RandomBatches(x, y, batch_size=16, seed=0))
        assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
        return torch.cat([p.detach().flatten() for p in trainer.model.parameters()]), dict(dtypes)

    bf16, bf16_dtypes = weights("bf16")
    again, _ = weights("bf16")
    fp32, fp32_dtypes = weights("fp32")
    assert bf16_dtypes == {"features": torch.bfloat16, "loss": torch.float32}
    assert fp32_dtypes == {"features": torch.float32, "loss": torch.float32}
    assert torch.equal(bf16, again) and not torch.equal(bf16, fp32)
    assert Trainer(tiny_net(0), cross_entropy, Schedule(iterations=1), device="cpu", amp=False).amp is False
    with pytest.raises(ValueError, match="cpu_precision must be one of fp32, bf16, auto, got 'fp16'"):
        use_cpu_precision("fp16")


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_cpu_has_it(cpu_bf16, monkeypatch, native):
    """``auto`` trains in bf16 on a CPU with native bf16 and in fp32 elsewhere (emulated bf16 is
    several times slower), and says which it chose."""
    monkeypatch.setattr(train_module, "native_bf16", lambda: native)
    chosen = use_cpu_precision("auto")
    assert chosen == cpu_precision() == ("bf16" if native else "fp32")
    assert Trainer(tiny_net(0), cross_entropy, Schedule(iterations=1), device="cpu").amp is native


def test_native_bf16_reads_torchs_cpu_capabilities(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert train_module.native_bf16()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert not train_module.native_bf16()
