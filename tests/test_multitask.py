"""Single-task, classical multi-task and SJMT training (fercore.multitask)."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, hamming_loss

from fercore import results
from fercore.batches import AlternatingBatches, MixedBatches, RandomBatches
from fercore.datasets.base import FaceSet
from fercore.experiments.sjmt import sample_per_class, task_loss_change
from fercore.losses.objectives import SelectiveObjective
from fercore.multitask import (
    MultiHeadNet,
    MultiTaskNet,
    au_accuracy,
    au_profile,
    build_trunk,
    profile_correlation,
    top_aus,
)
from fercore.multitask import _Augment  # the batch transform
from fercore.parameters import get_profile

EMOTIONS = ("happy", "sad", "angry")
AUS = ("AU6", "AU12", "AU15", "AU4")


def toy_tasks(n=48, side=16, seed=0):
    """An emotion task and an AU task whose labels are readable from image brightness patterns."""
    rng = np.random.default_rng(seed)
    emotion = rng.integers(0, 3, n)
    images = rng.integers(0, 40, (n, side, side)).astype(np.uint8)
    for c in range(3):  # class c lights up one horizontal band
        images[emotion == c, c * 5:c * 5 + 5] += 200
    aus = (rng.random((n, 4)) > 0.5).astype(np.float32)
    au_images = rng.integers(0, 40, (n, side, side)).astype(np.uint8)
    for a in range(4):  # AU a lights up one vertical band
        au_images[aus[:, a] > 0, :, a * 4:a * 4 + 4] += 200
    aus[::7, 1] = np.nan  # uncoded entries, as EmotioNet's 999
    return (FaceSet("emo", images, emotion, EMOTIONS),
            FaceSet("au", au_images, aus, AUS, label_kind="multilabel"))


def small(method, **kw):
    params = dict(net="resnet8", width=0.5, input_size=16, pad=2, iterations=60, batch_size=16,
                  lr=0.1, decay_every=None, device="cpu", seed=0)
    params.update(kw)
    return MultiTaskNet(method=method, **params)


def test_tasks_are_facesets_checked_selected_and_binarized():
    with pytest.raises(ValueError, match="integers in 0..2"):
        FaceSet("x", np.zeros((2, 4, 4), np.uint8), [0, 3], EMOTIONS)
    with pytest.raises(ValueError, match="0/1"):
        FaceSet("x", np.zeros((2, 4, 4), np.uint8), np.full((2, 4), 0.5), AUS, label_kind="multilabel")
    with pytest.raises(ValueError, match="binarized"):
        small("single").fit(FaceSet("x", np.zeros((2, 4, 4), np.uint8), np.full((2, 4), 0.5), AUS, label_kind="au"))
    images = np.arange(4 * 9, dtype=np.uint8).reshape(4, 3, 3)
    single = FaceSet("s", images, np.array([0, 2, 1, 2]), EMOTIONS, files=list("abcd"), split=["all"] * 4,
                     truth=pd.DataFrame({"file": list("abcd"), "AU6": [0.1, 0.2, 0.3, 0.4]}))
    task = single.select(("angry", "sad"))
    assert task.labels.tolist() == [0, 1, 0] and task.class_names == ("angry", "sad") and task.name == "s"
    assert task.truth["file"].tolist() == ["b", "c", "d"] and task.binarized() is task
    labels = np.array([[1, 0, np.nan], [0, 1, 0.8], [0.6, np.nan, 0], [0, 0, 0.2]], np.float32)
    multi = FaceSet("m", images, labels, ("AU1", "AU2", "AU4"), files=list("abcd"), split=["all"] * 4, label_kind="au")
    task = multi.select(("AU1", "AU4"), name="au").binarized()
    assert task.name == "au" and task.label_kind == "au" and task.labels.dtype == np.float32
    np.testing.assert_array_equal(task.labels, [[1, np.nan], [0, 1], [1, 0], [0, 0]])
    with pytest.raises(ValueError, match="no classes"):
        multi.select(("AU9",))
    part = FaceSet("e", images, [0, 1, 2, 0], EMOTIONS).subset(np.array([False, True, True, False]))
    assert part.labels.tolist() == [1, 2] and part.files.tolist() == ["1", "2"]


def test_augment_crops_the_padded_faces_and_mirrors_only_with_flip():
    images = torch.arange(2 * 36, dtype=torch.uint8).reshape(2, 1, 6, 6)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    targets = torch.zeros(2)
    plain = _Augment(6)((padded, targets), torch.Generator().manual_seed(1))["images"]
    assert plain.shape == (2, 1, 6, 6)
    windows = [padded[i, :, dy:dy + 6, dx:dx + 6].float() / 255 for i in range(2) for dy in range(5) for dx in range(5)]
    assert all(any(torch.equal(plain[i], w) for w in windows[25 * i:25 * (i + 1)]) for i in range(2))
    flipped = [_Augment(6, flip=True, head="e")((padded, targets), torch.Generator().manual_seed(s)) for s in range(8)]
    assert flipped[0]["head"] == "e"
    mirrored = [any(torch.equal(b["images"][i], w.flip(-1)) and not torch.equal(w, w.flip(-1))
                    for w in windows[25 * i:25 * (i + 1)]) for b in flipped for i in range(2)]
    assert any(mirrored) and not all(mirrored)


def test_alternating_and_mixed_batches():
    x = torch.zeros(10, 1, 4, 4, dtype=torch.uint8)

    def stream(head, value, size):
        def pack(batch, generator):
            return {"images": batch[0], "targets": batch[1], "head": head} if head else \
                {"images": batch[0], "targets": batch[1], "dataset": batch[2]}
        extra = () if head else (torch.full((10,), value),)
        return RandomBatches(x, torch.full((10,), value), *extra, batch_size=size, seed=value, transform=pack)

    alternating = AlternatingBatches([stream("a", 0, 4), stream("b", 1, 4)])
    assert [next(alternating)["head"] for _ in range(4)] == ["a", "b", "a", "b"]
    state = alternating.state_dict()
    follow = [next(alternating)["head"] for _ in range(3)]
    alternating.load_state_dict(state)
    assert [next(alternating)["head"] for _ in range(3)] == follow
    mixed = next(MixedBatches([stream(None, 0, 3), stream(None, 1, 5)]))
    assert mixed["dataset"].tolist() == [0] * 3 + [1] * 5 and mixed["images"].shape[0] == 8


def test_au_accuracy_is_equation_3_per_au():
    y_true = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    y_pred = np.array([[1, 1], [0, 1], [0, 0], [0, 0]])
    # AU 0: TP 1, TN 2 of 4; AU 1: TP 1, TN 1 of 4
    assert au_accuracy(y_true, y_pred).tolist() == [0.75, 0.5]
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, (50, 7)), rng.integers(0, 2, (50, 7))
    per_au = au_accuracy(a, b)
    assert per_au == pytest.approx([accuracy_score(a[:, j], b[:, j]) for j in range(7)])
    assert per_au.mean() == pytest.approx(1 - hamming_loss(a, b))
    with_nan = np.array([[1, np.nan], [0, 1], [1, 0]])
    assert au_accuracy(with_nan, [[1, 1], [1, 1], [1, 1]]).tolist() == [pytest.approx(2 / 3), 0.5]
    with pytest.raises(ValueError, match="same|one shape"):
        au_accuracy(a, b[:, :3])


def test_majority_accuracy_is_the_floor():
    from fercore.multitask import majority_accuracy

    train = FaceSet("e", np.zeros((4, 2, 2), np.uint8), [1, 1, 0, 2], EMOTIONS)
    test = FaceSet("e", np.zeros((3, 2, 2), np.uint8), [1, 0, 1], EMOTIONS)
    assert majority_accuracy(train, test) == pytest.approx(2 / 3)
    aus = FaceSet("a", np.zeros((3, 2, 2), np.uint8), np.array([[1, 0], [1, 0], [0, np.nan]]), ("AU1", "AU2"),
                  label_kind="multilabel")
    held = FaceSet("a", np.zeros((2, 2, 2), np.uint8), np.array([[1.0, 1], [0, 0]]), ("AU1", "AU2"),
                   label_kind="multilabel")
    assert majority_accuracy(aus, held) == pytest.approx((0.5 + 0.5) / 2)


def test_schedule_is_staircase_exponential_decay():
    schedule = MultiTaskNet(iterations=80_000, lr=0.05, decay_every=10_000, decay_rate=0.5).schedule()
    assert schedule.lr_at(9_999) == 0.05 and schedule.lr_at(10_000) == 0.025
    assert schedule.lr_at(79_999) == pytest.approx(0.05 * 0.5 ** 7)
    assert MultiTaskNet(iterations=800, decay_every=None).schedule().milestones == tuple(range(100, 800, 100))


def test_schedule_takes_the_shared_recipe_and_full_keeps_the_paper():
    recipe = MultiTaskNet(iterations=800, decay_every=None, warmup=0.05, lr_schedule="cosine").schedule(n_tasks=2)
    assert recipe.warmup == 40 and recipe.shape == "cosine" and recipe.milestones == ()
    assert recipe.lr_at(19) == pytest.approx(0.05 * 20 / 40) and recipe.lr_at(799) < 1e-4
    full = get_profile("full")["chapters"]["sjmt"]
    net = MultiTaskNet(iterations=full["iterations"], lr=full["lr"], decay_rate=full["decay_rate"],
                       warmup=full["warmup"], lr_schedule=full["lr_schedule"], flip=full["flip"])
    schedule = net.schedule()
    assert not net.flip and schedule.warmup == 0 and schedule.shape == "step"
    assert schedule.milestones == tuple(range(10_000, 80_000, 10_000)) and schedule.lr == 0.05  # Pons & Masip §4


def test_equal_exposure_gives_a_joint_net_as_many_batches_of_each_task_as_a_single_net():
    stretched = MultiTaskNet(iterations=800, decay_every=None, equal_exposure=True).schedule(n_tasks=2)
    assert stretched.iterations == 1600 and stretched.milestones == tuple(range(200, 1600, 200))
    assert MultiTaskNet(iterations=800, equal_exposure=True).schedule().iterations == 800
    assert MultiTaskNet(iterations=800, decay_every=None).schedule(n_tasks=2).iterations == 800
    with pytest.raises(ValueError, match="n_tasks"):
        MultiTaskNet().schedule(n_tasks=0)
    emo, au = toy_tasks()
    for method in ("multitask", "sjmt"):
        net = small(method, iterations=6, equal_exposure=True).fit([emo, au])
        assert len(net.history_) == 12
    assert len(small("single", iterations=6, equal_exposure=True).fit(emo).history_) == 6


def test_selective_objective_sends_no_gradient_to_other_spaces_head_rows():
    model = MultiHeadNet(build_trunk("resnet8", 0.5), {"joint": 7})
    objective = SelectiveObjective([[0, 1, 2], [3, 4, 5, 6]], 7)
    batch = {"images": torch.rand(4, 1, 12, 12), "targets": torch.eye(7)[[0, 1, 2, 0]],
             "dataset": torch.zeros(4, dtype=torch.long)}
    objective(model, batch)["loss"].backward()
    grad = model.heads["joint"].weight.grad
    assert grad[3:].abs().sum() == 0 and grad[:3].abs().sum() > 0


@pytest.mark.parametrize("method", ["single", "multitask", "sjmt"])
def test_each_setup_learns_a_toy_problem_deterministically(method):
    emo, au = toy_tasks()
    tasks = emo if method == "single" else [emo, au]
    first = small(method).fit(tasks)
    again = small(method).fit(tasks)
    np.testing.assert_array_equal(first.predict_scores(emo.images, "emo"), again.predict_scores(emo.images, "emo"))
    assert first.score(emo) > 0.8
    assert first.history_["loss"].iloc[-5:].mean() < first.history_["loss"].iloc[:5].mean()
    if method != "single":
        assert first.score(au) > 0.75
        assert first.predict_proba(emo.images, "au").shape == (len(emo), 4)  # AU scores for emotion faces
        assert set(np.unique(first.predict(au.images, "au"))) <= {0.0, 1.0}


def test_a_recorded_curve_reads_the_net_being_trained_without_changing_it():
    from fercore.curves import LearningCurve, scores_of

    emo, au = toy_tasks()
    model = small("sjmt", iterations=20, flip=True, warmup=0.1, lr_schedule="cosine", equal_exposure=True)
    model.fit([emo, au], curve=LearningCurve([5, 40], scores_of(model.score, {"test": (emo,)})))
    plain = small("sjmt", iterations=20, flip=True, warmup=0.1, lr_schedule="cosine", equal_exposure=True).fit([emo, au])
    assert model.curve_["step"].tolist() == [5, 40] and model.curve_["images"].tolist() == [40, 320]  # 8 per task a step
    assert model.curve_["test"].iloc[-1] == model.score(emo) and plain.curve_.empty
    np.testing.assert_array_equal(model.predict_scores(emo.images, "emo"), plain.predict_scores(emo.images, "emo"))


def test_sjmt_shares_outputs_of_tasks_with_the_same_classes():
    emo, au = toy_tasks(n=24)
    other = emo.select(name="emo2")
    net = small("sjmt", iterations=2).fit([emo, au, other])
    assert net.outputs_ == EMOTIONS + AUS
    np.testing.assert_array_equal(net.predict_scores(emo.images, "emo"), net.predict_scores(emo.images, "emo2"))


def test_init_from_copies_the_pretrained_trunk():
    emo, au = toy_tasks(n=24)
    pretrained = small("single", iterations=5).fit(au)
    fresh = small("single", iterations=1, lr=0.0, weight_decay=0.0, seed=3,
                  init_from=pretrained.trunk_state_dict()).fit(emo)
    for name, p in fresh.model_.trunk.named_parameters():
        torch.testing.assert_close(p, pretrained.model_.trunk.get_parameter(name))


def test_bad_setups_raise_clear_errors():
    emo, au = toy_tasks(n=24)
    with pytest.raises(ValueError, match="one task"):
        small("single").fit([emo, au])
    with pytest.raises(ValueError, match="at least two"):
        small("multitask").fit([emo])
    with pytest.raises(ValueError, match="method must be"):
        small("joint").fit(emo)
    with pytest.raises(ValueError, match="unknown net"):
        small("single", net="alexnet").fit(emo)
    net = small("single", iterations=1).fit(emo)
    with pytest.raises(ValueError, match="no task 'au'"):
        net.predict(au.images, "au")
    with pytest.raises(ValueError, match="does not match"):
        net.score(FaceSet("emo", emo.images, emo.labels % 2, ("a", "b")))


def test_analysis_helpers():
    groups = np.array([0, 0, 2, 2, 2])
    scores = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.5], [0.0, 1.0, 0.2], [0.0, 1.0, 0.4], [0.0, 1.0, 0.0]])
    profile = au_profile(groups, scores, ["happy", "sad", "angry"], ["AU6", "AU12", "AU4"])
    assert list(profile.index) == ["happy", "angry"]
    assert profile.loc["happy"].tolist() == [0.5, 0.0, 0.5]
    assert profile.loc["angry"].tolist() == pytest.approx([0.0, 1.0, 0.2])
    truth = pd.DataFrame([[1.0, 0.0, 2.0], [0.0, 3.0, 1.0]], index=["happy", "angry"], columns=["AU6", "AU12", "AU4"])
    r = profile_correlation(profile, truth)
    assert r["happy"] == pytest.approx(np.corrcoef([0.5, 0.0, 0.5], [1.0, 0.0, 2.0])[0, 1])
    assert r["angry"] == pytest.approx(np.corrcoef([0.0, 1.0, 0.2], [0.0, 3.0, 1.0])[0, 1])
    assert top_aus(profile, 2)["angry"] == ["AU12", "AU4"]
    picks = sample_per_class([0, 0, 0, 1, 1, 2], 2, seed=0)
    assert np.bincount(np.asarray([0, 0, 0, 1, 1, 2])[picks]).tolist() == [2, 2, 1]


def test_every_head_gets_a_gradient_each_step():
    from fercore.losses.objectives import HeadObjective

    model = MultiHeadNet(build_trunk("resnet8", 0.5), {"emo": 3, "au": 4})
    objective = HeadObjective({"emo": 0, "au": 4})
    batch = {"images": torch.rand(4, 1, 12, 12), "targets": torch.tensor([0, 1, 2, 0]), "head": "emo"}
    objective(model, batch)["loss"].backward()
    assert model.heads["emo"].weight.grad.abs().sum() > 0
    assert model.heads["au"].weight.grad is not None and model.heads["au"].weight.grad.abs().sum() == 0


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    """The four datasets of the chapter, rendered tiny by the data world's own writers."""
    from fercore.synth import world

    root = tmp_path_factory.mktemp("world")
    sizes = dict(sfew_train=28, sfew_val=14, emotionet_images=160, emotionet_emotion_fraction=0.6,
                 fer2013_images=40, ckplus_subjects=6, ckplus_frames=3)
    for unit in ("sfew", "emotionet", "fer2013", "ckplus"):
        world.generate_unit(root, unit, sizes, 0, "test")
    return root


def test_load_chapter_tasks_splits_as_the_paper(tiny_world):
    from fercore.experiments.sjmt import PAPER_COMPOUNDS, load_chapter_tasks, task_sizes

    tasks = load_chapter_tasks(tiny_world, input_size=24, emotionet_test=1000, compound_per_class=3,
                               compound_min_test=1)
    sizes = task_sizes(tasks)
    assert sizes.loc["sfew", "train"] == 28 and sizes.loc["sfew", "test"] == 14
    assert sizes.loc["emotionet", "test"] == 80  # at most half the AU set
    train, test = tasks["compound"]
    assert train.class_names == PAPER_COMPOUNDS and np.bincount(train.labels, minlength=8).max() <= 3
    assert not set(train.files) & set(test.files)
    assert not set(tasks["emotionet_for_compound"][0].files) & set(test.files)
    assert tasks["ckplus_au"][0].class_names == tasks["emotionet"][0].class_names
    for name in ("ckplus_emotion", "ckplus_au"):  # subject-independent
        train_subjects = {f.split("/")[0] for f in tasks[name][0].files}
        assert not train_subjects & {f.split("/")[0] for f in tasks[name][1].files}
    assert tasks["sfew"][1].images.shape[1:] == (24, 24) and tasks["sfew"][1].truth is not None


def test_chapter_setups_follow_the_papers_tables():
    from fercore.experiments.sjmt import chapter_setups

    setups = chapter_setups(["resnet32", "resnet110", "vgg16"], ["resnet110"], ckplus_seeds=1)
    nets = {(s.table, s.method, s.name): s.nets for s in setups}
    assert nets[("table1", "single", "sfew")] == ("resnet32", "resnet110", "vgg16")
    assert nets[("table2", "sjmt", "sfew+emotionet")] == ("resnet32", "resnet110")
    assert nets[("table4", "sjmt", "compound+emotionet_for_compound")] == ("resnet110",)
    assert {s.n_seeds for s in setups if "ckplus" in s.name} == {1}
    assert not any(s.table == "table2" for s in chapter_setups(["vgg16"]))


def test_run_setups_summaries_and_tables(tiny_world):
    from fercore.experiments.sjmt import (
        Setup,
        au_truth_correlations,
        comparison_table,
        compound_table,
        fitted,
        load_chapter_tasks,
        per_class_recalls,
        record_summary,
        run_setups,
        summarize,
    )

    tasks = load_chapter_tasks(tiny_world, input_size=16, compound_per_class=3, compound_min_test=1)
    setups = (Setup("table2", "sjmt", ("sfew", "emotionet"), ("sfew", "emotionet"), ("resnet8",)),
              Setup("table4", "single", ("compound",), ("compound",), ("resnet8",), n_seeds=1))
    params = dict(width=0.25, input_size=16, pad=1, iterations=3, batch_size=8, device="cpu")
    scores, models = run_setups(setups, tasks, [0, 1], params)
    assert len(scores) == 2 * 2 + 1 and set(models) == {
        ("table2", "sjmt", "sfew+emotionet", "resnet8", 0), ("table2", "sjmt", "sfew+emotionet", "resnet8", 1),
        ("table4", "single", "compound", "resnet8", 0)}
    summary = summarize(scores)
    assert summary.loc[("table2", "sjmt", "resnet8", "sfew"), "n"] == 2
    assert "sjmt.sfew.sjmt.resnet8.accuracy" in record_summary(summary)
    assert results.recorded()["sjmt.compound.single.resnet8.accuracy.n_seeds"] == 1
    table = comparison_table(summary, "table2")
    assert list(table.columns) == ["SFEW (emotion): ours", "SFEW (emotion): paper", "EmotioNet (AUs): ours",
                                   "EmotioNet (AUs): paper"]
    nets = fitted(models, "table2", "sjmt", "resnet8")
    agreement, per_net = au_truth_correlations(nets, tasks["sfew"][1])
    assert len(per_net) == 2 and set(agreement.columns) == {"r", "r_centered", "images"}
    recalls = per_class_recalls(fitted(models, "table4", "single", "resnet8"), tasks["compound"][1])
    frame = compound_table({"single": recalls}, *tasks["compound"])
    assert frame.loc["All images", "test"] == len(tasks["compound"][1])
    assert frame.loc["Mean compounds", "paper sjmt"] == 59.4
    with pytest.raises(ValueError, match="no nets"):
        fitted(models, "table1", "single", "resnet8")
    from fercore.experiments.sjmt import discussion

    text = discussion(results.recorded(), models, tasks, params, nets=[], compound_net="resnet8", iterations=3,
                      equal_exposure=False, input_size=16, width=0.25, n_seeds=2, seconds=1.0)
    assert "Compound emotions (resnet8)" in text and "SJMT > single" in text


def test_run_setups_records_learning_curves_of_the_nets_on_the_curve_task(tiny_world):
    from fercore.experiments.sjmt import Setup, curve_rows, load_chapter_tasks, run_setups

    tasks = load_chapter_tasks(tiny_world, input_size=16, compound_per_class=3, compound_min_test=1)
    setups = (Setup("table1", "single", ("sfew",), ("sfew",), ("resnet8",)),
              Setup("table2", "sjmt", ("sfew", "emotionet"), ("sfew", "emotionet"), ("resnet8",)),
              Setup("table4", "single", ("compound",), ("compound",), ("resnet8",)))
    params = dict(width=0.25, input_size=16, pad=1, flip=True, iterations=8, batch_size=8, equal_exposure=True,
                  warmup=0.1, lr_schedule="cosine", device="cpu")
    scores, models = run_setups(setups, tasks, [0, 1], params, n_curve_points=3)
    rows = curve_rows(models, "resnet8")
    assert set(rows.columns) == {"step", "images", "test", "train", "model", "seed"}
    assert set(rows["model"]) == {"single", "sjmt"} and set(rows["seed"]) == {0, 1}  # not the compound nets
    for method, steps in (("single", 8), ("sjmt", 16)):  # equal exposure: the joint net runs twice the steps
        part = rows[(rows["model"] == method) & (rows["seed"] == 0)]
        assert len(part) == 3 and part["step"].iloc[-1] == steps and part["images"].iloc[-1] == 8 * 8
    final = rows[rows["step"] == 8].set_index("seed")["test"]
    single = scores.query("method == 'single' and dataset == 'sfew'").set_index("seed")["accuracy"]
    assert (final == single).all()  # the curve's last point is the table's number
    assert not models["table4", "single", "compound", "resnet8", 0].curve_.shape[0]
    with pytest.raises(ValueError, match="no learning curves"):
        curve_rows(models, "resnet32")


def test_render_au_faces_draws_one_face_per_au_set():
    from fercore.experiments.sjmt import render_au_faces

    faces = render_au_faces([[], ["AU12", "AU6"], ["AU26"]], size=48, seed=0)
    assert faces.shape == (3, 48, 48) and faces.dtype == np.uint8
    assert np.abs(faces[1].astype(int) - faces[0]).mean() > 0.5  # the smile changes the face
    with pytest.raises(ValueError, match="renderer's AUs"):
        render_au_faces([["AU99"]])


def test_task_loss_change_reads_each_tasks_alternate_steps():
    emo, au = toy_tasks()
    net = small("multitask", iterations=8).fit([emo, au])
    loss = net.history_["loss"].to_numpy()
    assert task_loss_change(net, "emo", 0.25) == pytest.approx((loss[0], loss[6]))
    assert task_loss_change(net, "au", 0.25) == pytest.approx((loss[1], loss[7]))
    with pytest.raises(ValueError, match="SJMT"):
        task_loss_change(small("sjmt", iterations=2).fit([emo, au]), "emo")


def test_percent_of_a_recorded_fraction():
    from fercore.experiments.sjmt import percent

    assert percent({"a": 0.5}, "a") == "50.0%" and percent({}, "z") == "not run"
