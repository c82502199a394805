"""The shared training recipe: batch crop + flip, warm-up and cosine/step schedules."""

import math

import pytest
import torch

from fercore.batches import RandomBatches
from fercore.inputs import CropFlip, crop_flip
from fercore.recipe import recipe_schedule, use_threads
from fercore.train import Schedule, Trainer


def faces(n=5, side=12):
    return torch.arange(n * side * side, dtype=torch.int64).remainder(251).to(torch.uint8).view(n, 1, side, side)


def test_crop_flip_matches_slicing_sample_by_sample():
    images = faces()
    g = torch.Generator().manual_seed(3)
    out = crop_flip(images, 9, g)
    g = torch.Generator().manual_seed(3)
    top = torch.randint(0, 4, (5,), generator=g)
    left = torch.randint(0, 4, (5,), generator=g)
    mirror = torch.rand(5, generator=g) < 0.5
    assert out.shape == (5, 1, 9, 9) and out.dtype == torch.float32
    for i in range(5):
        crop = images[i, :, top[i]:top[i] + 9, left[i]:left[i] + 9].float() / 255
        if mirror[i]:
            crop = crop.flip(-1)
        torch.testing.assert_close(out[i], crop, rtol=0, atol=0)


def test_crop_flip_flips_about_half_and_can_be_turned_off():
    images = faces(400, 10)
    g = torch.Generator().manual_seed(0)
    same_as_unflipped = [bool((crop_flip(images[i:i + 1], 10, g) * 255).round().to(torch.uint8).equal(images[i:i + 1]))
                         for i in range(400)]
    assert 150 < sum(same_as_unflipped) < 250
    whole = crop_flip(images, 10, torch.Generator().manual_seed(0), flip=False)
    assert torch.equal((whole * 255).round().to(torch.uint8), images)
    with pytest.raises(ValueError, match="exceeds"):
        crop_flip(images, 11)


def test_crop_flip_in_random_batches_is_reproducible():
    images, labels = faces(20, 12), torch.arange(20)
    a = next(RandomBatches(images, labels, batch_size=8, seed=1, transform=CropFlip(10)))
    b = next(RandomBatches(images, labels, batch_size=8, seed=1, transform=CropFlip(10)))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape == (8, 1, 10, 10)


def test_warmup_then_drops_and_cosine():
    step = recipe_schedule(1000, 0.1, drops=(0.5, 0.9), warmup=0.1)
    assert step.warmup == 100 and step.milestones == (500, 900)
    assert step.lr_at(0) == pytest.approx(0.001) and step.lr_at(49) == pytest.approx(0.05)
    assert step.lr_at(99) == pytest.approx(0.1) and step.lr_at(499) == pytest.approx(0.1)
    assert step.lr_at(500) == pytest.approx(0.01) and step.lr_at(950) == pytest.approx(0.001)
    cosine = recipe_schedule(1000, 0.1, warmup=0.1, shape="cosine")
    assert cosine.milestones == ()
    assert cosine.lr_at(100) == pytest.approx(0.1)
    assert cosine.lr_at(550) == pytest.approx(0.05)
    assert cosine.lr_at(999) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 899 / 900)))
    assert Schedule(100, lr=0.1, milestones=(50,)).lr_at(0) == 0.1  # no warm-up: as before
    with pytest.raises(ValueError, match="warmup"):
        recipe_schedule(100, 0.1, warmup=1.0)
    with pytest.raises(ValueError, match="shape"):
        Schedule(100, shape="linear")


def test_trainer_follows_the_schedule_lr_at_every_step():
    schedule = recipe_schedule(40, 0.2, drops=(0.5,), warmup=0.25)
    model = torch.nn.Linear(3, 2)
    trainer = Trainer(model, lambda m, b: {"loss": m(b[0]).pow(2).mean()}, schedule, device="cpu")
    history = trainer.fit(RandomBatches(torch.randn(16, 3), batch_size=4))
    assert history["lr"].tolist() == pytest.approx([schedule.lr_at(s) for s in range(40)])


def test_fit_until_stops_and_continues_the_same_run():
    x = torch.randn(32, 3)

    def run(points):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        trainer = Trainer(model, lambda m, b: {"loss": m(b[0]).pow(2).mean()},
                          recipe_schedule(30, 0.1, warmup=0.2, shape="cosine"), device="cpu")
        batches = RandomBatches(x, batch_size=4, seed=2)
        for p in points:
            trainer.fit(batches, until=p)
        trainer.fit(batches)
        return model.weight.detach().clone(), trainer.step

    whole, steps = run([])
    parts, steps_parts = run([5, 17])
    assert steps == steps_parts == 30 and torch.equal(whole, parts)


def test_use_threads_sets_and_restores():
    before = torch.get_num_threads()
    try:
        assert use_threads(1) == 1 and use_threads(0) == 1
        with pytest.raises(ValueError, match="threads"):
            use_threads(-1)
    finally:
        torch.set_num_threads(before)


def test_paper_values_give_the_papers_schedule():
    from fercore.deep import PAPER_SCHEDULE

    assert recipe_schedule(20_000, 0.01, drops=(0.25, 0.9)) == PAPER_SCHEDULE  # what `full` runs
    short = recipe_schedule(1_000, 0.02, drops=(0.75, 0.95))
    assert short.milestones == (750, 950) and short.lr_at(749) == 0.02 and short.lr_at(750) == pytest.approx(0.002)
