"""Checkpoint faults: no code runs from a checkpoint, another run's checkpoint is refused with both
fingerprints, corrupt files are named."""

import re

import pytest
import torch
from torch import nn

from fercore.batches import RandomBatches
from fercore.train import CheckpointError, Schedule, Trainer, run_fingerprint


def net(width=4, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 3))


def cross_entropy(model, batch):
    x, y = batch
    return {"loss": nn.functional.cross_entropy(model(x), y)}


class WeightedCrossEntropy(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = weight

    def forward(self, model, batch):
        return {"loss": self.weight * cross_entropy(model, batch)["loss"]}

    def extra_repr(self):
        return f"weight={self.weight}"


def data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)


def trained(path, schedule=Schedule(6, lr=0.1), model=None, loss=cross_entropy, seed=0, data_seed=0):
    trainer = Trainer(model or net(), loss, schedule, device="cpu", seed=seed, checkpoint=path)
    trainer.fit(RandomBatches(*data(data_seed), batch_size=16, seed=1))
    return trainer


def resume(path, schedule=Schedule(6, lr=0.1), model=None, loss=cross_entropy, seed=0, data_seed=0):
    return trained(path, schedule, model, loss, seed, data_seed)


class Payload:
    def __reduce__(self):
        import pathlib

        return pathlib.Path.touch, (pathlib.Path(MARKER),)


MARKER = ""


def test_a_crafted_checkpoint_cannot_run_code(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "pwned")
    path = tmp_path / "run.pt"
    torch.save({"step": 0, "fingerprint": {}, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(path))}: not a readable checkpoint"):
        resume(path)
    assert not (tmp_path / "pwned").exists(), "the checkpoint's payload ran"


def test_the_same_run_resumes(tmp_path):
    path = tmp_path / "run.pt"
    first = trained(path)
    again = resume(path)
    assert again.step == first.step == 6


OTHER_RUNS = {
    "learning rate": dict(schedule=Schedule(6, lr=0.05)),
    "length": dict(schedule=Schedule(12, lr=0.1)),
    "milestones": dict(schedule=Schedule(6, lr=0.1, milestones=(3,))),
    "model": dict(model=net(width=5)),
    "objective": dict(loss=WeightedCrossEntropy(2.0)),
    "seed": dict(seed=1),
    "data": dict(data_seed=1),
}
FIELD = {"learning rate": "schedule", "length": "schedule", "milestones": "schedule", "model": "model",
         "objective": "objective", "seed": "seed", "data": "data"}


@pytest.mark.parametrize("change", list(OTHER_RUNS))
def test_a_checkpoint_of_another_run_is_refused_with_both_fingerprints(tmp_path, change):
    path = tmp_path / "run.pt"
    trained(path, loss=WeightedCrossEntropy(1.0) if change == "objective" else cross_entropy)
    with pytest.raises(CheckpointError) as error:
        resume(path, **OTHER_RUNS[change])
    message = str(error.value)
    assert str(path) in message and f"differs in {FIELD[change]}" in message
    assert "checkpoint: {" in message and "this run:   {" in message


CORRUPT = {
    "empty": lambda b: b"",
    "truncated": lambda b: b[: len(b) // 2],
    "garbage": lambda b: b"\x00\x01not a checkpoint" * 10,
}


@pytest.mark.parametrize("fault", list(CORRUPT))
def test_corrupt_checkpoints_are_named(tmp_path, fault):
    path = tmp_path / "run.pt"
    trained(path)
    path.write_bytes(CORRUPT[fault](path.read_bytes()))
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(path))}: not a readable checkpoint"):
        resume(path)


def test_a_plain_state_dict_is_not_taken_for_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(net().state_dict(), path)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(path))}: not a checkpoint of fercore.train.Trainer"):
        resume(path)


def test_combined_batch_streams_fingerprint_their_data():
    from fercore.batches import PairedBatches

    x, y = data()
    one = run_fingerprint(net(), cross_entropy, Schedule(6), PairedBatches(RandomBatches(x, y, batch_size=8)), 0)
    other = run_fingerprint(net(), cross_entropy, Schedule(6), PairedBatches(RandomBatches(x + 1, y, batch_size=8)), 0)
    assert one["data"] != other["data"] and one["model"] == other["model"]


def test_the_augmentation_settings_are_part_of_the_fingerprint():
    """A run with mirrored crops is another run than one without, or with another crop size."""
    from fercore.inputs import CropFlip

    x, y = torch.zeros(32, 1, 12, 12), torch.zeros(32, dtype=torch.long)

    def fingerprint(transform):
        return run_fingerprint(net(), cross_entropy, Schedule(6), RandomBatches(x, y, batch_size=8, transform=transform), 0)

    assert fingerprint(CropFlip(8, flip=True)) == fingerprint(CropFlip(8, flip=True))
    assert len({str(fingerprint(t)) for t in (CropFlip(8, flip=True), CropFlip(8, flip=False), CropFlip(10, flip=True))}) == 3
