"""Label and table faults: every one raises an error naming the file (and line, where the format has
lines), or is handled correctly; none loads silently wrong labels."""

import re

import numpy as np
import pandas as pd
import pytest

from faultkit import edit_lines
from fercore.datasets import DatasetFormatError, load

RAF = "synth-rafdb/basic/EmoLabel/list_patition_label.txt"
RAF_DIST = "synth-rafdb/basic/EmoLabel/distribution.txt"
COMPOUND = "synth-rafdb/compound/EmoLabel/list_patition_label.txt"
RAFML = "synth-rafml/EmoLabel/multilabel.txt"
RAFML_DIST = "synth-rafml/EmoLabel/distribution.txt"
AFFECTNET = "synth-affectnet/Manually_Annotated_file_lists/training.csv"
FER = "synth-fer2013/fer2013.csv"
EMOTIONET = "synth-emotionet/emotion_labels.csv"
EMOTIONET_AU = "synth-emotionet/au_labels.csv"
MMI = "synth-mmi/mmi_labels.csv"
JAFFE = "synth-jaffe/semantic_ratings.txt"


def repeat_line(n):
    return lambda lines: lines + [lines[n]]


def relabel_repeat(n, field, value, sep=None):
    def edit(lines):
        fields = lines[n].split(sep)
        fields[field] = value
        return lines + [(sep or " ").join(fields)]
    return edit


def set_field(n, field, value, sep=None):
    def edit(lines):
        fields = lines[n].split(sep)
        fields[field] = value
        lines[n] = (sep or " ").join(fields)
        return lines
    return edit


def set_row(n, values):
    def edit(lines):
        name = lines[n].split()[0]
        lines[n] = " ".join([name, *values])
        return lines
    return edit


# (case id, dataset, file, edit, loader kwargs, line the error must name or None, message pattern)
CASES = [
    ("rafdb duplicate line", "rafdb", RAF, repeat_line(0), {}, "last", "listed twice"),
    ("rafdb conflicting labels", "rafdb", RAF, relabel_repeat(0, 1, "3"), {}, "last", "two different labels"),
    ("rafdb non-integer label 5.7", "rafdb", RAF, set_field(2, 1, "5.7"), {}, 3, "not an integer"),
    ("rafdb label 9", "rafdb", RAF, set_field(2, 1, "9"), {}, 3, "unknown label '9'"),
    ("rafdb label nan", "rafdb", RAF, set_field(2, 1, "nan"), {}, 3, "not a finite number"),
    ("rafdb missing field", "rafdb", RAF, set_row(1, []), {}, 2, "expected 2 fields"),
    ("compound duplicate line", "rafdb", COMPOUND, repeat_line(1), {"subset": "compound"}, None, "listed twice"),
    ("distribution nan", "rafdb", RAF_DIST, set_row(0, ["nan"] + ["0"] * 6), {"labels": "distribution"}, 1,
     "not a finite number"),
    ("distribution inf", "rafdb", RAF_DIST, set_row(0, ["inf"] + ["0"] * 6), {"labels": "distribution"}, 1,
     "not a finite number"),
    ("distribution all zero", "rafdb", RAF_DIST, set_row(0, ["0"] * 7), {"labels": "distribution"}, 1,
     "all-zero row"),
    ("distribution sums to 7", "rafdb", RAF_DIST, set_row(0, ["1"] * 7), {"labels": "distribution"}, 1,
     "sum to 7"),
    ("distribution negative", "rafdb", RAF_DIST, set_row(0, ["-0.5", "1.5"] + ["0"] * 5), {"labels": "distribution"},
     1, "negative"),
    ("distribution duplicate, other values", "rafdb", RAF_DIST,
     lambda lines: lines + [lines[0].split()[0] + " 1 0 0 0 0 0 0"], {"labels": "distribution"}, "last",
     "two different labels"),
    ("rafml duplicate, other labels", "rafml", RAFML, lambda lines: lines + [lines[0].split()[0] + " 1 1 0 0 0 0"],
     {}, None, "two different labels|listed twice"),
    ("rafml label 0.5", "rafml", RAFML, set_row(0, ["0.5", "1", "0", "0", "0", "0"]), {}, 1, "not an integer"),
    ("rafml distribution nan", "rafml", RAFML_DIST, set_row(0, ["nan"] + ["0"] * 5), {"labels": "distribution"}, 1,
     "not a finite number"),
    ("affectnet duplicate row", "affectnet", AFFECTNET, repeat_line(1), {}, "last", "listed twice"),
    ("affectnet conflicting row", "affectnet", AFFECTNET, relabel_repeat(1, 6, "4", ","), {}, "last", "two labels"),
    ("affectnet box width 0", "affectnet", AFFECTNET, set_field(1, 3, "0", ","), {}, 2, "width 0"),
    ("affectnet box off the image", "affectnet", AFFECTNET, set_field(1, 1, "5000", ","), {}, 2, "off the"),
    ("affectnet box not a number", "affectnet", AFFECTNET, set_field(1, 2, "", ","), {}, 2, "not four numbers"),
    ("affectnet expression 5.7", "affectnet", AFFECTNET, set_field(1, 6, "5.7", ","), {}, 2, "unknown expression"),
    ("fer2013 duplicate line", "fer2013", FER, repeat_line(1), {}, "last", "repeats line 2"),
    ("fer2013 emotion 5.7", "fer2013", FER, set_field(1, 0, "5.7", ","), {}, 2, "unknown emotion"),
    ("emotionet duplicate file", "emotionet", EMOTIONET, repeat_line(1), {"labels": "emotion"}, None, "listed twice"),
    ("emotionet duplicate AU row", "emotionet", EMOTIONET_AU, repeat_line(1), {}, "last", "listed twice"),
    ("mmi duplicate session", "mmi", MMI, repeat_line(1), {}, "last", "listed twice"),
    ("mmi peak frame 5.7", "mmi", MMI, set_field(1, 3, "1;5.7", ","), {}, 2, "not ';'-separated frame numbers"),
    ("mmi peak frame missing", "mmi", MMI, set_field(1, 3, "1;2;40", ","), {}, 2, "peak frame 40 has no image"),
    ("jaffe duplicate rating", "jaffe", JAFFE, repeat_line(1), {"labels": "ratings"}, "last", "listed twice"),
    ("jaffe rating nan", "jaffe", JAFFE, set_field(1, 1, "nan"), {"labels": "ratings"}, 2, "not a finite number"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_label_fault_is_refused_naming_file_and_line(case, world_copy):
    _, dataset, relative, edit, kwargs, line, pattern = case
    path = world_copy / relative
    edit_lines(path, edit)
    if line == "last":
        line = len(path.read_text().splitlines())
    with pytest.raises(DatasetFormatError) as error:
        load(dataset, world_copy, **kwargs)
    message = str(error.value)
    assert str(path) in message, message
    if line is not None:
        assert f"line {line}:" in message, message
    assert re.search(pattern, message), message


NON_UTF8 = [
    ("rafdb", RAF, {}),
    ("rafml", RAFML, {}),
    ("jaffe", JAFFE, {"labels": "ratings"}),
    ("ckplus", "synth-ckplus/Emotion/S005/001/S005_001_00000003_emotion.txt", {}),
    ("affectnet", AFFECTNET, {}),
    ("mmi", MMI, {}),
]


@pytest.mark.parametrize("dataset, relative, kwargs", NON_UTF8, ids=[c[0] for c in NON_UTF8])
def test_non_utf8_bytes_name_file_and_line(dataset, relative, kwargs, world_copy):
    path = world_copy / relative
    data = path.read_bytes().splitlines(keepends=True)
    data[0] = data[0].rstrip(b"\n") + b" caf\xe9\n"
    path.write_bytes(b"".join(data))
    with pytest.raises(DatasetFormatError, match=rf"{re.escape(str(path))}, line 1: not UTF-8"):
        load(dataset, world_copy, **kwargs)


EMPTY = [
    ("rafdb", RAF, {}, "empty"),
    ("rafml", RAFML, {}, "empty"),
    ("affectnet", AFFECTNET, {}, "empty"),
    ("fer2013", FER, {}, "empty"),
    ("emotionet", EMOTIONET_AU, {}, "empty"),
    ("mmi", MMI, {}, "empty"),
    ("jaffe", JAFFE, {"labels": "ratings"}, "no header"),
]


@pytest.mark.parametrize("dataset, relative, kwargs, pattern", EMPTY, ids=[c[0] for c in EMPTY])
def test_empty_label_files_name_the_file(dataset, relative, kwargs, pattern, world_copy):
    path = world_copy / relative
    path.write_text("")
    with pytest.raises(DatasetFormatError, match=rf"{re.escape(str(path))}.*{pattern}"):
        load(dataset, world_copy, **kwargs)


@pytest.mark.parametrize("relative, dataset", [(FER, "fer2013"), (MMI, "mmi"), (EMOTIONET_AU, "emotionet")])
def test_header_only_csv_is_refused(relative, dataset, world_copy):
    path = world_copy / relative
    edit_lines(path, lambda lines: lines[:1])
    with pytest.raises(DatasetFormatError, match=re.escape(str(path))):
        load(dataset, world_copy)


def test_affectnet_header_only_lists_load_no_images_and_are_refused(world_copy):
    for name in ("training.csv", "validation.csv"):
        edit_lines(world_copy / "synth-affectnet/Manually_Annotated_file_lists" / name, lambda lines: lines[:1])
    with pytest.raises(DatasetFormatError, match="no images loaded"):
        load("affectnet", world_copy)


@pytest.mark.parametrize("dataset", ["rafdb", "rafml"])
def test_a_split_the_dataset_lacks_is_named(dataset, world_copy):
    present = sorted(set(load(dataset, world_copy).split))
    with pytest.raises(ValueError, match=re.escape(f"no image in split 'val'; the names give splits {present}")):
        load(dataset, world_copy, split="val")


def test_mmi_peak_frames_are_read_by_name_not_position(world_copy):
    before = load("mmi", world_copy)
    session = before.meta["sequence"][0]
    (world_copy / "synth-mmi/Sessions" / session / "000.png").unlink()  # a frame before the peaks goes missing
    after = load("mmi", world_copy)
    assert list(after.files) == list(before.files)
    assert np.array_equal(after.images, before.images)
    assert list(after.meta["frame"]) == list(before.meta["frame"])


def test_mmi_frame_not_named_by_number_is_refused(world_copy):
    session = pd.read_csv(world_copy / MMI, dtype=str)["session"][0]
    (world_copy / "synth-mmi/Sessions" / session / "001.png").rename(
        world_copy / "synth-mmi/Sessions" / session / "apex.png")
    with pytest.raises(DatasetFormatError, match="apex.png: MMI frame names must be frame numbers"):
        load("mmi", world_copy)


def test_ckplus_emotion_code_5_7_is_refused(world_copy):
    path = world_copy / "synth-ckplus/Emotion/S005/001/S005_001_00000003_emotion.txt"
    path.write_text("   5.7000000e+00\n")
    with pytest.raises(DatasetFormatError, match=rf"{re.escape(str(path))}.*unknown emotion code 5.7"):
        load("ckplus", world_copy)


def test_missing_image_is_named_and_noted(world_copy):
    from fercore import results

    victim = next((world_copy / "synth-rafdb/basic/Image/aligned").glob("*.jpg"))
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(victim))):
        load("rafdb", world_copy)
    assert any(n["what"] == "dataset rafdb" and str(victim) in n["reason"] for n in results.noted())


def test_missing_dataset_folder_is_named(world_copy):
    import shutil

    shutil.rmtree(world_copy / "synth-jaffe")
    with pytest.raises(FileNotFoundError, match=rf"{re.escape(str(world_copy))}: no jaffe dataset"):
        load("jaffe", world_copy)


def test_pristine_world_loads_every_dataset(world_copy):
    """The control: the undamaged copy loads, so each refusal above comes from its fault."""
    for name, kwargs in [("rafdb", {}), ("rafdb", {"labels": "distribution"}), ("rafdb", {"subset": "compound"}),
                         ("rafml", {}), ("rafml", {"labels": "distribution"}), ("affectnet", {}), ("fer2013", {}),
                         ("emotionet", {}), ("emotionet", {"labels": "emotion"}), ("mmi", {}), ("jaffe", {}),
                         ("jaffe", {"labels": "ratings"}), ("ckplus", {}), ("sfew", {}), ("oulu", {})]:
        assert len(load(name, world_copy, **kwargs)) > 0, name


@pytest.mark.parametrize("value", ["5.7", "nan", "-1"])
def test_fer2013_pixel_values_must_be_whole_gray_levels(world_copy, value):
    path = world_copy / FER

    def edit(lines):
        emotion, pixels, usage = lines[1].split(",")
        lines[1] = ",".join([emotion, " ".join([value] + pixels.split()[1:]), usage])
        return lines

    edit_lines(path, edit)
    with pytest.raises(DatasetFormatError, match=rf"{re.escape(str(path))}, line 2: gray values must be whole"):
        load("fer2013", world_copy)


VOTE_FAULTS = [
    ("label 5.7", lambda lines: [lines[0], *[",".join(lines[1].split(",")[:2] + ["5.7"])], *lines[2:]], 2,
     "not a class index"),
    ("label 9", lambda lines: [lines[0], *[",".join(lines[1].split(",")[:2] + ["9"])], *lines[2:]], 2,
     "not a class index"),
    ("repeated vote", lambda lines: lines + [lines[1]], "last", "twice"),
    ("header only", lambda lines: lines[:1], None, "no votes"),
]


@pytest.mark.parametrize("fault, edit, line, pattern", VOTE_FAULTS, ids=[v[0] for v in VOTE_FAULTS])
def test_vote_table_faults_are_named(world_copy, fault, edit, line, pattern):
    from fercore.synth.crowd import find_votes, load_crowd_table

    path = find_votes(world_copy)
    edit_lines(path, edit)
    if line == "last":
        line = len(path.read_text().splitlines())
    where = re.escape(str(path)) + (f", line {line}" if line else "")
    with pytest.raises(DatasetFormatError, match=rf"{where}: .*{pattern}"):
        load_crowd_table(path)
