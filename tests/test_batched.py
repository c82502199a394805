"""Seeds trained together: a stacked run equals separate runs to float tolerance."""

import pytest
import torch

from fercore.batched import StackedBatches, StackedModels, StackedObjective
from fercore.losses.objectives import FeatureObjective
from fercore.nets import BaseDCNN
from fercore.batches import RandomBatches
from fercore.inputs import CropFlip
from fercore.recipe import recipe_schedule
from fercore.train import Trainer

SEEDS = (0, 1, 2)
SCHEDULE = recipe_schedule(12, 0.02, drops=(0.75,), warmup=0.25, weight_decay=1e-3)


def net(seed, dropout=0.0):
    torch.manual_seed(seed)
    return BaseDCNN(7, width=0.125, input_size=16, feature_dim=32, dropout=dropout)


def data():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (48, 1, 18, 18), generator=g, dtype=torch.uint8), torch.arange(48) % 7


def batches(seed):
    images, labels = data()
    return RandomBatches(images, labels, batch_size=16, seed=seed, transform=CropFlip(16))


@pytest.mark.parametrize("objective", ["softmax", "dlp"])
def test_stacked_run_equals_separate_runs(objective):
    loss = FeatureObjective(objective, 7, 32, k=3)
    separate = []
    for seed in SEEDS:
        model = net(seed)
        Trainer(model, loss, SCHEDULE, param_groups=model.parameter_groups(), device="cpu",
                seed=seed).fit(batches(seed))
        separate.append(model)
    models = [net(seed) for seed in SEEDS]
    stacked = StackedModels(models)
    trainer = Trainer(stacked, StackedObjective(loss), SCHEDULE, device="cpu",
                      param_groups=stacked.parameter_groups(models[0].parameter_groups()))
    history = trainer.fit(StackedBatches([batches(seed) for seed in SEEDS]))
    assert len(history) == SCHEDULE.iterations
    x = torch.rand(5, 1, 16, 16)
    for alone, member in zip(separate, stacked.unstack()):
        for (name, a), b in zip(alone.state_dict().items(), member.state_dict().values()):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
        torch.testing.assert_close(member.features(x), alone.eval().features(x), rtol=1e-4, atol=1e-5)
    logits = stacked.eval()(x.expand(3, -1, -1, -1, -1))
    assert logits.shape == (3, 5, 7)


def test_stacked_dropout_is_deterministic_and_differs_between_members():
    def run():
        models = [net(0, dropout=0.5) for _ in SEEDS]  # same initial weights
        stacked = StackedModels(models)
        Trainer(stacked, StackedObjective(FeatureObjective("softmax", 7, 32)), SCHEDULE, device="cpu",
                seed=5).fit(StackedBatches([batches(0) for _ in SEEDS]))  # same batches
        return [m.classifier.weight.detach() for m in stacked.unstack()]

    first, again = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])  # only the dropout masks differ


def test_bad_input():
    with pytest.raises(ValueError, match="architecture"):
        StackedModels([net(0), BaseDCNN(7, width=0.25, input_size=16, feature_dim=32)])
    with pytest.raises(ValueError, match="parameters or state"):
        StackedObjective(FeatureObjective("center", 7, 32))
    with pytest.raises(ValueError, match="at least one"):
        StackedBatches([])
