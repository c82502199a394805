"""Image faults: every PIL mode decodes to the right 8-bit values, or is refused with the file named."""

import numpy as np
import pytest
from PIL import Image

from fercore.datasets import DatasetFormatError, load
from fercore.datasets.base import read_gray
from fercore.datasets.imageio import read_image

GRAY = (np.add.outer(np.arange(32), np.arange(32)) * 4).clip(0, 255).astype(np.uint8)
"""A gradient with every grey level from 0 to 248: a solid face would not match it."""


def _save(path, im, **kwargs):
    im.save(path, **kwargs)
    return path


def _rgba(alpha):
    rgb = np.repeat(GRAY[:, :, None], 3, axis=2)
    return Image.fromarray(np.dstack([rgb, np.full_like(GRAY, alpha)]), mode="RGBA")


ENCODINGS = {
    "L png": lambda p: _save(p / "a.png", Image.fromarray(GRAY)),
    "1-bit png": lambda p: _save(p / "a.png", Image.fromarray(GRAY >= 128)),
    "16-bit png (I;16)": lambda p: _save(p / "a.png", Image.fromarray(GRAY.astype(np.uint16) * 257)),
    "16-bit tiff (I;16)": lambda p: _save(p / "a.tiff", Image.fromarray(GRAY.astype(np.uint16) * 257)),
    "16-bit big-endian tiff (I;16B)": lambda p: _save(
        p / "a.tiff", Image.frombytes("I;16B", GRAY.shape[::-1], (GRAY.astype(">u2") * 257).tobytes())),
    "32-bit int tiff (I) with 16-bit values": lambda p: _save(
        p / "a.tiff", Image.fromarray(GRAY.astype(np.int32) * 257)),
    "float tiff in 0..1 (F)": lambda p: _save(p / "a.tiff", Image.fromarray(GRAY.astype(np.float32) / 255)),
    "float tiff in 0..255 (F)": lambda p: _save(p / "a.tiff", Image.fromarray(GRAY.astype(np.float32))),
    "palette png (P)": lambda p: _save(p / "a.png", Image.fromarray(GRAY).convert("P")),
    "RGB jpeg": lambda p: _save(p / "a.jpg", Image.fromarray(GRAY).convert("RGB"), quality=100),
    "CMYK tiff": lambda p: _save(p / "a.tiff", Image.fromarray(GRAY).convert("RGB").convert("CMYK")),
    "CMYK jpeg": lambda p: _save(p / "a.jpg", Image.fromarray(GRAY).convert("RGB").convert("CMYK"), quality=100),
    "grey + opaque alpha png (LA)": lambda p: _save(p / "a.png", _rgba(255).convert("LA")),
    "RGBA png, opaque": lambda p: _save(p / "a.png", _rgba(255)),
    "multi-page tiff (first page)": lambda p: _save(p / "a.tiff", Image.fromarray(GRAY), save_all=True,
                                                    append_images=[Image.fromarray(255 - GRAY)]),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_every_mode_decodes_to_the_right_gray_values(encoding, tmp_path):
    got = read_gray(ENCODINGS[encoding](tmp_path))
    expected = (GRAY >= 128) * 255 if encoding.startswith("1-bit") else GRAY
    tolerance = 3 if "jpeg" in encoding else 1
    assert got.dtype == np.uint8 and got.shape == GRAY.shape
    assert np.abs(got.astype(int) - expected).max() <= tolerance, f"{encoding}: wrong grey values"
    assert got.std() > 30, f"{encoding}: loads as a flat image"


@pytest.mark.parametrize("encoding", ["16-bit png (I;16)", "CMYK tiff", "RGBA png, opaque", "palette png (P)"])
def test_colour_path_decodes_the_same_modes(encoding, tmp_path):
    rgb = read_image(ENCODINGS[encoding](tmp_path), mode="RGB")
    assert rgb.shape == (*GRAY.shape, 3) and np.abs(rgb.astype(int) - GRAY[:, :, None]).max() <= 1


def test_transparent_pixels_are_composited_on_white(tmp_path):
    half = np.array(_rgba(255))
    half[:, :16, 3] = 0
    path = _save(tmp_path / "a.png", Image.fromarray(half, mode="RGBA"))
    got = read_gray(path)
    assert (got[:, :16] == 255).all() and np.abs(got[:, 16:].astype(int) - GRAY[:, 16:]).max() <= 1
    palette = Image.fromarray(GRAY).convert("P")
    palette.info["transparency"] = int(np.asarray(palette)[0, 0])
    _save(tmp_path / "p.png", palette, transparency=palette.info["transparency"])
    assert read_gray(tmp_path / "p.png")[0, 0] == 255


BROKEN = {
    "truncated png": lambda p: (p / "a.png").write_bytes(_save(p / "full.png", Image.fromarray(
        np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))).read_bytes()[:2000]) and p / "a.png",
    "truncated jpeg": lambda p: (p / "a.jpg").write_bytes(_save(p / "full.jpg", Image.fromarray(
        np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)), quality=95).read_bytes()[:1500])
    and p / "a.jpg",
    "empty file": lambda p: (p / "a.png").write_bytes(b"") or p / "a.png",
    "not an image": lambda p: (p / "a.png").write_text("train_00001.jpg 5\n") and p / "a.png",
    "float image with NaN": lambda p: _save(p / "a.tiff", Image.fromarray(np.full((4, 4), np.nan, np.float32))),
    "float image outside 0..255": lambda p: _save(p / "a.tiff", Image.fromarray(np.full((4, 4), 900.0, np.float32))),
    "32-bit image with negative values": lambda p: _save(p / "a.tiff", Image.fromarray(np.full((4, 4), -5, np.int32))),
}


@pytest.mark.parametrize("fault", list(BROKEN))
def test_undecodable_images_are_refused_naming_the_file(fault, tmp_path):
    path = BROKEN[fault](tmp_path)
    with pytest.raises(DatasetFormatError, match=str(path)):
        read_gray(path)


def test_missing_image_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope.png")):
        read_gray(tmp_path / "nope.png")


@pytest.mark.parametrize("dataset, pattern, kwargs", [
    ("ckplus", "cohn-kanade-images/*/*/*.png", {"frames": "peak"}),
    ("sfew", "Train/*/*.png", {}),
    ("mmi", "Sessions/*/*.png", {"frames": "all"}),
    ("jaffe", "*.tiff", {}),
])
def test_16_bit_copies_of_a_dataset_load_as_the_8_bit_faces(dataset, pattern, kwargs, world_copy):
    """The headline fault: 16-bit greyscale files in a CK+, SFEW, MMI or JAFFE copy loaded as solid white."""
    folder = next(world_copy.glob(f"synth-{dataset}"))
    before = load(dataset, world_copy, **kwargs)
    for path in folder.glob(pattern):
        eight = np.asarray(Image.open(path).convert("L"), dtype=np.uint16)
        Image.fromarray(eight * 257).save(path)
        assert Image.open(path).mode == "I;16"
    after = load(dataset, world_copy, **kwargs)
    assert after.images.std() > 10 and after.images.mean() < 250
    assert np.abs(after.images.astype(int) - before.images).max() <= 1
