"""Face detection, five landmarks and alignment for photographs that come neither aligned nor
annotated (a user's photos, film frames, dataset originals without landmark files).

The detector is MTCNN (Zhang et al., "Joint face detection and alignment using multitask cascaded
convolutional networks", IEEE SPL 2016) as packaged by ``facenet-pytorch``, whose wheel carries
the three trained stages (P-, R- and O-Net), so nothing is downloaded. Its five points come in
RAF-DB's order: image-left eye centre, image-right eye centre, nose tip, image-left mouth
corner, image-right mouth corner — what :func:`fercore.align.align_face` expects::

    from fercore.detect import FaceDetector, read_photo, detect_photos
    detector = FaceDetector()                       # largest face per photo
    faces = detector.detect(read_photo("me.jpg").rgb)[0]
    for result in detect_photos(["photos/"], detector):   # folders too, one result per file
        print(result.path, result.error or len(result.faces))

Photos are read in any PIL mode (16-bit, palette, alpha, CMYK; see
:func:`fercore.datasets.imageio.decode`), turned upright from their EXIF orientation, and shrunk
to at most ``max_side`` pixels before detection (huge JPEGs are decoded at reduced scale, so
memory stays bounded); landmarks and boxes are reported in the coordinates of
that working image and :attr:`Photo.scale` maps them back to the file's pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from fercore.align import RAF_SIZE, align_face
from fercore.datasets.imageio import ImageDecodeError, decode
from fercore.progress import progress

MAX_SIDE = 1600
"""Longest side, in pixels, a photo is shrunk to before detection."""

ORIENTATION_TAG = 0x0112
"""EXIF orientation; values 5-8 turn the picture by a quarter."""

KEEP = ("largest", "all")
"""Which faces of a photo :class:`FaceDetector` returns: the largest one, or all of them."""


class PhotoError(ValueError):
    """A photo cannot be read, or holds no face; the message names the file."""


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (x1, y1, x2, y2), detector ``score`` in [0, 1], and the five
    ``landmarks`` (5, 2) as (x, y) pixels in RAF-DB order."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))

    @property
    def inter_ocular(self) -> float:
        """Distance between the two eye centres, in pixels."""
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))


@dataclass
class Photo:
    """A photo ready for detection: ``rgb`` uint8 (h, w, 3) and ``scale`` = working pixels per
    file pixel (1.0 unless the file was larger than ``max_side``)."""

    path: Path | None
    rgb: np.ndarray
    scale: float = 1.0
    original_size: tuple = ()

    @property
    def gray(self) -> np.ndarray:
        """The photo as uint8 grayscale (PIL's ITU-R 601 luma, as the dataset loaders read)."""
        return np.asarray(Image.fromarray(self.rgb).convert("L"))


def read_photo(path, max_side: int = MAX_SIDE, upright: bool = True) -> Photo:
    """Read an image file as an RGB :class:`Photo` no larger than ``max_side``, turned upright
    from its EXIF orientation unless ``upright=False`` (the pixels as stored, as the dataset
    loaders read them).

    Raises :class:`PhotoError` naming the file for a missing file, a file that is not an image, a
    truncated or corrupt image, or one too large for PIL's decompression-bomb guard.
    """
    path = Path(path)
    if not path.is_file():
        raise PhotoError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                turned = upright and im.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8)
                if max(width, height) > max_side and im.format == "JPEG":
                    factor = max_side / max(width, height)  # decode at 1/2, 1/4 or 1/8 scale
                    im.draft("RGB", (max(1, int(width * factor)), max(1, int(height * factor))))
                rgb = decode(ImageOps.exif_transpose(im) if upright else im, "RGB")
    except ImageDecodeError as e:
        raise PhotoError(f"{path}: {e}") from None
    except Image.UnidentifiedImageError:
        raise PhotoError(f"{path}: not an image file (PIL cannot identify it)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PhotoError(f"{path}: image too large to decode safely ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise PhotoError(f"{path}: truncated or corrupt image ({e})") from None
    full = (height, width) if turned else (width, height)
    if max(rgb.shape[:2]) > max_side:
        factor = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR, reducing_gap=2.0), dtype=np.uint8)
    return Photo(path, rgb, scale=rgb.shape[1] / full[0], original_size=full)


class FaceDetector:
    """MTCNN face detection with five landmarks, on a batch of photos at a time.

    Parameters
    ----------
    keep : ``"largest"`` (at most one face per photo, the largest box) or ``"all"`` (every face,
        largest first).
    min_face_size : smallest face side, in pixels, the image pyramid looks for.
    thresholds : P-, R- and O-Net score thresholds (MTCNN's defaults).
    device : ``"auto"``, ``"cpu"``, ``"cuda"``…
    """

    def __init__(self, keep: str = "largest", min_face_size: int = 20,
                 thresholds=(0.6, 0.7, 0.7), device="auto"):
        if keep not in KEEP:
            raise ValueError(f"keep must be one of {KEEP}, got {keep!r}")
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be at least 12 pixels, got {min_face_size}")
        try:
            from tqdm import TqdmWarning

            with warnings.catch_warnings():  # its downloader imports tqdm.auto: noise in a notebook
                warnings.simplefilter("ignore", TqdmWarning)
                from facenet_pytorch import MTCNN
        except ImportError:
            raise RuntimeError("face detection needs facenet-pytorch: "
                               "pip install --no-deps facenet-pytorch==2.6.0 (or `make venv`)") from None
        from fercore.devices import resolve_device

        self.keep = keep
        self.device = resolve_device(device)
        self.mtcnn = MTCNN(min_face_size=min_face_size, thresholds=list(thresholds),
                           select_largest=True, keep_all=True, device=self.device).eval()

    def detect(self, images) -> list:
        """Faces in each of ``images`` (one uint8 (h, w, 3) or (h, w) array, or a list of them).

        Returns one list of :class:`Face` per image, largest first (empty when there is none).
        Images of equal size go through the network as one batch.
        """
        single = isinstance(images, np.ndarray) and images.ndim in (2, 3)
        images = [images] if single else list(images)
        images = [self._rgb(im) for im in images]
        out = [None] * len(images)
        by_shape = {}
        for i, im in enumerate(images):
            by_shape.setdefault(im.shape, []).append(i)
        for index in by_shape.values():
            with torch.no_grad():
                boxes, scores, points = self.mtcnn.detect(np.stack([images[i] for i in index]),
                                                          landmarks=True)
            for i, b, s, p in zip(index, boxes, scores, points):
                out[i] = self._faces(b, s, p)
        return out

    @staticmethod
    def _rgb(image) -> np.ndarray:
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {image.dtype}")
        if image.ndim == 2:
            return np.repeat(image[..., None], 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"images must be (h, w, 3) RGB or (h, w) gray, got {image.shape}")
        return image

    def _faces(self, boxes, scores, points) -> list:
        if boxes is None:
            return []
        faces = [Face(np.asarray(b, np.float64), float(s), np.asarray(p, np.float64))
                 for b, s, p in zip(boxes, scores, points)]
        faces.sort(key=lambda f: -f.area)
        return faces[:1] if self.keep == "largest" else faces


@dataclass
class PhotoFaces:
    """What :func:`detect_photos` found in one file: its faces (largest first), their aligned
    ``size``×``size`` grayscale crops, or the ``error`` that stopped it."""

    path: Path
    faces: list = field(default_factory=list)
    aligned: np.ndarray | None = None
    photo: Photo | None = None
    error: str | None = None


def photo_files(inputs) -> list:
    """The files named in ``inputs``, with every folder replaced by the files under it (sorted,
    recursively, hidden files and folders left out). Raises ``FileNotFoundError`` for a path
    that does not exist."""
    files = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(item).parts))
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return files


def align_faces(gray, faces, size: int = RAF_SIZE) -> np.ndarray:
    """The ``size``×``size`` aligned crop of each face of one grayscale photo, (k, size, size)."""
    if not faces:
        return np.zeros((0, size, size), np.uint8)
    return np.stack([align_face(gray, f.landmarks, size=size)[0] for f in faces])


def detect_photos(inputs, detector: FaceDetector | None = None, *, size: int = RAF_SIZE,
                  max_side: int = MAX_SIDE, keep_photo: bool = False, desc: str = "photos"):
    """Detect and align the faces in photo files and folders, one :class:`PhotoFaces` per file.

    A file that cannot be read or has no face gives a result whose ``error`` names the file and
    the reason; the files after it are still processed. A progress bar counts the files.
    """
    detector = detector or FaceDetector()
    for path in progress(photo_files(inputs), desc=desc, unit="photo"):
        try:
            photo = read_photo(path, max_side)
        except PhotoError as e:
            yield PhotoFaces(path, error=str(e))
            continue
        faces = detector.detect(photo.rgb)[0]
        if not faces:
            h, w = photo.rgb.shape[:2]
            yield PhotoFaces(path, photo=photo if keep_photo else None,
                             error=f"{path}: no face found (MTCNN on the {w}×{h} image)")
            continue
        yield PhotoFaces(path, faces, align_faces(photo.gray, faces, size), photo if keep_photo else None)
