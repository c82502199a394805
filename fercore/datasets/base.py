"""The in-memory form every loader returns, and the file helpers the format modules share.

A :class:`FaceSet` holds aligned grayscale faces, their labels in ``fercore.labels`` orders, and
whatever else the dataset ships (file names, subjects, splits, landmarks, attributes) plus, for a
synthetic copy, the generator's ground truth. ``faceset.arrays()`` feeds scikit-learn;
``fercore.datasets.FaceDataset(faceset)`` feeds PyTorch.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fercore.progress import progress

LABEL_KINDS = ("single", "multilabel", "distribution", "au", "ratings")
TRUTH_FILE = "truth.csv"
"""The ground-truth sidecar a synthetic copy carries (one row per image, keyed by ``file``)."""

LANDMARKS5_FILE = "landmarks5.csv"
"""Sidecar with five landmarks per image for formats that ship none (JAFFE, SFEW frames)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Image files the folder-layout loaders (SFEW, Oulu-CASIA, MMI) pick up, in any case."""

JPEG_QUALITY = 95
PNG_COMPRESS_LEVEL = 1
"""zlib level of written PNGs: the fastest. Rendered faces carry sensor noise, which no level
compresses much (level 6 makes a CK+ frame 13% smaller in 4 times the time)."""


@dataclass(eq=False)
class FaceSet:
    """Faces, labels and metadata of one dataset (or one split of it).

    ``labels`` is ``(n,)`` int64 class indices into ``class_names`` for single-label sets, or
    ``(n, K)`` float32 for multi-label (0/1), distribution, rating and AU sets (NaN = unknown).
    ``files`` default to the row numbers. ``split`` names each image's split; left out, every
    image is in split ``"all"``. ``subjects`` (the groups of subject-independent folds), ``meta``
    and ``truth`` are aligned row by row with ``images``. A training method takes a FaceSet as
    its task or target: :meth:`select` keeps some classes, :meth:`binarized` gives 0/1 label sets.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    files: np.ndarray | None = None
    split: np.ndarray | None = None
    label_kind: str = "single"
    subjects: np.ndarray | None = None
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    truth: pd.DataFrame | None = None

    def __post_init__(self):
        n = len(self.images)
        colour = self.images.ndim == 4 and self.images.shape[-1] == 3
        if self.images.dtype != np.uint8 or not (self.images.ndim == 3 or colour):
            raise ValueError(f"{self.name}: images must be uint8 (n, H, W) or colour (n, H, W, 3), got "
                             f"{self.images.dtype} {self.images.shape}")
        if self.label_kind not in LABEL_KINDS:
            raise ValueError(f"{self.name}: label_kind {self.label_kind!r} is not one of {LABEL_KINDS}")
        self.class_names = tuple(self.class_names)
        self.labels = np.asarray(self.labels)
        self.files = np.asarray(np.arange(n).astype(str) if self.files is None else self.files, dtype=object)
        self.split = np.full(n, "all", dtype=object) if self.split is None else np.asarray(self.split, dtype=object)
        if self.subjects is not None:
            self.subjects = np.asarray(self.subjects, dtype=object)
        if self.meta is None or len(self.meta.columns) == 0:
            self.meta = pd.DataFrame(index=range(n))
        for what in ("labels", "files", "split", "subjects", "meta", "truth"):
            value = getattr(self, what)
            if value is not None and len(value) != n:
                raise ValueError(f"{self.name}: {what} has {len(value)} rows for {n} images")
        k = len(self.class_names)
        if self.label_kind == "single" and (self.labels.ndim != 1 or self.labels.dtype.kind not in "iu"
                                            or (n and not (0 <= self.labels.min() and self.labels.max() < k))):
            raise ValueError(f"{self.name}: single-label labels must be (n,) integers in 0..{k - 1}, got "
                             f"{self.labels.dtype} {self.labels.shape}")
        if self.label_kind != "single" and (self.labels.ndim != 2 or self.labels.shape[1] != k):
            raise ValueError(f"{self.name}: {self.label_kind} labels must be (n, {k}), got {self.labels.shape}")
        if self.label_kind == "multilabel" and not (np.isin(self.labels, (0, 1)) | np.isnan(self.labels)).all():
            raise ValueError(f"{self.name}: multi-label labels must be 0/1 (or NaN, unknown)")
        self.meta = self.meta.reset_index(drop=True)
        if self.truth is not None:
            self.truth = self.truth.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        splits = {str(k): int(v) for k, v in zip(*np.unique(self.split.astype(str), return_counts=True))}
        return (f"FaceSet({self.name!r}, {len(self)} images {self.images.shape[1:]}, {self.label_kind} labels over "
                f"{len(self.class_names)} classes, splits {splits}, truth={'yes' if self.truth is not None else 'no'})")

    @property
    def image_size(self) -> tuple:
        return tuple(self.images.shape[1:])

    def subset(self, index=None, *, split=None) -> "FaceSet":
        """The rows picked by a boolean mask or an index array (in that order), then those of ``split``."""
        idx = np.arange(len(self))
        if index is not None:
            index = np.asarray(index)
            if index.dtype == bool and len(index) != len(self):
                raise ValueError(f"{self.name}: mask has {len(index)} entries for {len(self)} images")
            idx = np.flatnonzero(index) if index.dtype == bool else index.astype(int)
        if split is not None:
            if split not in set(self.split):
                raise ValueError(f"{self.name}: no split {split!r}; splits are {sorted(set(self.split))}")
            idx = idx[self.split[idx] == split]
        return self._take(idx)

    def _take(self, idx) -> "FaceSet":
        return replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            files=self.files[idx],
            split=self.split[idx],
            subjects=None if self.subjects is None else self.subjects[idx],
            meta=self.meta.iloc[idx].reset_index(drop=True),
            truth=None if self.truth is None else self.truth.iloc[idx].reset_index(drop=True),
        )

    def select(self, classes=None, *, name=None) -> "FaceSet":
        """Only the classes named in ``classes`` (all when ``None``), in that order, under ``name``
        (default this set's). A single-label set drops the images of the other classes and
        re-indexes its labels; a multi-column set keeps those columns."""
        out = self if name is None else replace(self, name=name)
        if classes is None:
            return out
        missing = [c for c in classes if c not in self.class_names]
        if missing:
            raise ValueError(f"{self.name}: no classes {missing}; it has {self.class_names}")
        columns = [self.class_names.index(c) for c in classes]
        if self.label_kind != "single":
            return replace(out, labels=self.labels[:, columns], class_names=tuple(classes))
        remap = np.full(len(self.class_names), -1)
        remap[columns] = np.arange(len(columns))
        kept = out._take(np.flatnonzero(np.isin(self.labels, columns)))
        return replace(kept, labels=remap[kept.labels], class_names=tuple(classes))

    def binarized(self) -> "FaceSet":
        """Label sets of 0/1 float32 values: multi-column labels above 0.5 (unknown, NaN, stays NaN),
        kind ``"au"`` kept, any other ``"multilabel"``. A single-label set is returned as it is."""
        if self.label_kind == "single":
            return self
        labels = np.where(np.isnan(self.labels), np.nan, self.labels > 0.5).astype(np.float32)
        return replace(self, labels=labels, label_kind="au" if self.label_kind == "au" else "multilabel")

    def arrays(self, flat: bool = False):
        """``(X, y)`` for scikit-learn: uint8 ``(n, H, W)`` images, or float32 ``(n, H*W)`` in [0, 1] if ``flat``."""
        if flat:
            return self.images.reshape(len(self), -1).astype(np.float32) / 255.0, self.labels
        return self.images, self.labels

    def per_class(self, k: int, seed: int = 0) -> "FaceSet":
        """Up to ``k`` random images of each class, class by class (single-label sets)."""
        if self.label_kind != "single":
            raise ValueError(f"{self.name}: per_class needs single labels, not {self.label_kind}")
        rng = np.random.default_rng(seed)
        picks = [rng.permutation(np.flatnonzero(self.labels == c))[:k] for c in range(len(self.class_names))]
        return self._take(np.concatenate(picks).astype(int))

    def present(self) -> np.ndarray:
        """Boolean ``(n, K)``: the labels each image has (multi-label and AU 1, JAFFE ratings above
        3, a distribution's most likely class, a single label)."""
        if self.label_kind == "single":
            return np.eye(len(self.class_names), dtype=bool)[self.labels]
        if self.label_kind == "distribution":
            return np.eye(len(self.class_names), dtype=bool)[np.argmax(self.labels, axis=1)]
        return np.nan_to_num(self.labels, nan=0.0) > (3.0 if self.label_kind == "ratings" else 0.5)

    def label_names(self) -> list:
        """Each image's labels as text, joined by '+' when it has several (see :meth:`present`)."""
        return ["+".join(n for n, p in zip(self.class_names, row) if p) or "none" for row in self.present()]

    def class_counts(self) -> pd.Series:
        """Images per class (see :meth:`present`)."""
        return pd.Series(self.present().sum(axis=0), index=list(self.class_names), name=self.name)


class DatasetFormatError(ValueError):
    """A file does not follow its dataset's format; the message names the file and line."""


def format_error(path, message, line=None) -> DatasetFormatError:
    where = f"{path}" if line is None else f"{path}, line {line}"
    return DatasetFormatError(f"{where}: {message}")


def require_dir(path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: {what} folder not found")
    return path


def require_file(path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    return path


def first_existing(folder, names, what: str) -> Path:
    """The first of ``names`` that exists in ``folder`` (alternative spellings of one file)."""
    for name in names:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    also = ", ".join(names[1:]) or "nothing else"
    raise FileNotFoundError(f"{Path(folder) / names[0]}: {what} not found (also tried {also})")


def image_files(folder, suffixes) -> list:
    """The files in ``folder`` whose suffix (in any case) is one of ``suffixes``, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in suffixes)


def class_folders(folder, known) -> list:
    """The sub-folders of ``folder``, sorted; each must be one of the ``known`` class folder names."""
    folders = sorted(p for p in Path(folder).iterdir() if p.is_dir())
    unknown = [p for p in folders if p.name not in known]
    if unknown:
        raise format_error(unknown[0], f"unknown class folder (expected one of {list(known)})")
    return folders


def read_text_lines(path) -> list:
    """The lines of a UTF-8 text file (a byte-order mark is dropped); a line that is not UTF-8
    raises an error naming the file and line."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise format_error(path, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                                     "save the file as UTF-8", number) from None
    return lines


def read_rows(path, n_fields: int | None = None, min_fields: int | None = None, sep=None):
    """Non-empty lines of a whitespace table as ``(line_number, fields)``; checks the field count."""
    path = Path(path)
    rows = []
    for number, line in enumerate(read_text_lines(path), 1):
        fields = line.split(sep) if sep else line.split()
        if not fields or not line.strip():
            continue
        if n_fields is not None and len(fields) != n_fields:
            raise format_error(path, f"expected {n_fields} fields, found {len(fields)}: {line.strip()!r}", number)
        if min_fields is not None and len(fields) < min_fields:
            raise format_error(path, f"expected at least {min_fields} fields, found {len(fields)}", number)
        rows.append((number, fields))
    return rows


def parse_number(text, path, line, kind=float):
    """``text`` as a finite float, or an int (``5`` and ``5.0`` are 5; ``5.7`` is refused)."""
    try:
        value = float(text)
    except ValueError:
        raise format_error(path, f"{text!r} is not a number", line) from None
    if not np.isfinite(value):
        raise format_error(path, f"{text!r} is not a finite number", line)
    if kind is int:
        if not value.is_integer():
            raise format_error(path, f"{text!r} is not an integer", line)
        return int(value)
    return kind(value)


def read_named_vectors(path, k: int, parse) -> dict:
    """``name v_1 ... v_k`` lines as ``{name: (k,) float}``, each name once; ``parse(fields,
    line)`` turns a row's k value fields into its vector (and raises, naming file and line, on a
    bad one)."""
    out, lines = {}, {}
    for line, fields in read_rows(path, n_fields=k + 1):
        values = parse(fields[1:], line)
        if fields[0] in out:
            check_unique_names(path, [fields[0]] * 2, [lines[fields[0]], line], [out[fields[0]], values])
        out[fields[0]] = values
        lines[fields[0]] = line
    if not out:
        raise format_error(path, "no rows (the file is empty)")
    return out


def check_unique_names(path, names, lines, values=None, what="image") -> None:
    """Refuse a name listed twice: a repeated line (same values) or a name with conflicting labels.

    ``lines`` are the file lines of ``names``; ``values`` (optional) their labels, compared to
    tell the two cases apart in the message.
    """
    first = {}
    for i, name in enumerate(names):
        if name not in first:
            first[name] = i
            continue
        j = first[name]
        if values is not None and not _same(values[i], values[j]):
            raise format_error(path, f"{what} {name!r} has two different labels: {_show(values[j])} on line "
                                     f"{lines[j]} and {_show(values[i])} here", lines[i])
        raise format_error(path, f"{what} {name!r} is listed twice (line {lines[j]} and here); "
                                 "remove the repeated line", lines[i])


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.array_equal(a.astype(np.float64), b.astype(np.float64), equal_nan=True))
    return bool(np.array_equal(a, b))


def _show(value) -> str:
    value = np.asarray(value)
    return str(value.item()) if value.ndim == 0 else " ".join(f"{v:g}" for v in value.ravel())


def check_distribution(values, path, line, tolerance: float = 0.02) -> np.ndarray:
    """A probability row: finite, non-negative, summing to 1 (within ``tolerance``)."""
    values = np.asarray(values, np.float64)
    if (values < 0).any():
        raise format_error(path, "negative probability", line)
    total = float(values.sum())
    if abs(total - 1.0) > tolerance:
        raise format_error(path, f"probabilities sum to {total:.4g}, not 1" + (" (an all-zero row)" if total == 0 else ""),
                           line)
    return values


def read_csv_checked(path, required, what: str, **kwargs) -> pd.DataFrame:
    """A CSV file that must have the ``required`` columns (error names the file and the missing ones)."""
    path = require_file(path, what)
    read_text_lines(path)  # not UTF-8: the error names the line
    try:
        table = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise format_error(path, f"{what} is empty (expected a header line with {list(required)})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise format_error(path, f"not a readable CSV ({e})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise format_error(path, f"missing column(s) {missing}; found {list(table.columns)}", line=1)
    return table


def csv_line(row_index: int) -> int:
    """The file line of a pandas row (header is line 1)."""
    return int(row_index) + 2


def read_gray(path) -> np.ndarray:
    """An image file as uint8 grayscale ``(H, W)`` (any PIL mode, see
    :func:`fercore.datasets.imageio.read_image`); errors name the file."""
    from fercore.datasets.imageio import read_image

    return read_image(path, mode="L")


def read_rgb(path) -> np.ndarray:
    """An image file as uint8 RGB ``(H, W, 3)`` (grey files repeated over the channels; any PIL
    mode, see :func:`fercore.datasets.imageio.read_image`); errors name the file."""
    from fercore.datasets.imageio import read_image

    return read_image(path, mode="RGB")


def read_gray_or_rgb(path, color: bool = False) -> np.ndarray:
    """:func:`read_rgb` with ``color``, else :func:`read_gray`."""
    return read_rgb(path) if color else read_gray(path)


def write_image(path, image: np.ndarray) -> None:
    """:func:`write_gray` for a grey ``(H, W)`` image; an RGB ``(H, W, 3)`` one is written the
    same way (JPEG quality 95, PNG, TIFF by suffix) in colour."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        return write_gray(path, image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{path}: image must be (H, W) or (H, W, 3), got {image.shape}")
    _save_image(Image.fromarray(image, mode="RGB"), path)


def resize_gray(image: np.ndarray, size: int) -> np.ndarray:
    """A square ``size`` x ``size`` copy of a grayscale (or RGB) image (bilinear)."""
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def read_images(paths, size: int | None = None, desc: str = "images", color: bool = False) -> np.ndarray:
    """Stack image files into ``(n, H, W)`` uint8 (``(n, H, W, 3)`` with ``color``), resizing
    to ``size`` when given."""
    images = []
    for path in progress(paths, desc=desc, unit="img"):
        image = read_gray_or_rgb(path, color)
        images.append(resize_gray(image, size) if size else image)
    if not images:
        return np.zeros((0, size or 0, size or 0) + ((3,) if color else ()), np.uint8)
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images under {Path(paths[0]).parent} differ in size {sorted(shapes)}; pass size=")
    return np.stack(images)


def write_gray(path, image: np.ndarray) -> None:
    """Write a uint8 grayscale image deterministically (JPEG quality 95, PNG, TIFF by suffix)."""
    _save_image(Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L"), path)


def _save_image(im: Image.Image, path) -> None:
    """Save deterministically by suffix: JPEG quality 95, PNG, TIFF."""
    path = Path(path)
    suffix = path.suffix.lower()
    formats = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}
    if suffix not in formats:
        raise ValueError(f"{path}: unsupported image suffix {suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"JPEG": {"quality": JPEG_QUALITY, "optimize": False, "progressive": False},
               "PNG": {"compress_level": PNG_COMPRESS_LEVEL}, "TIFF": {}}[formats[suffix]]
    im.save(path, format=formats[suffix], **options)


def write_lines(path, lines) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


def write_csv(path, table: pd.DataFrame) -> None:
    """A CSV written the same way every time (fixed float format, ``\\n`` line ends)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.6g", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def landmarks68_to_5(points: np.ndarray) -> np.ndarray:
    """Five landmarks (eye centres, nose tip, mouth corners) from the 68-point iBUG layout."""
    points = np.asarray(points, dtype=np.float64)
    return np.stack([points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])


def as_landmarks5(points: np.ndarray, path, line=None) -> np.ndarray:
    """Accept 5 or 68 (x, y) points and return the five the aligner uses."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 68:
        return landmarks68_to_5(points)
    if len(points) == 5:
        return points
    raise format_error(path, f"expected 5 or 68 landmarks, found {len(points)}", line)


def landmark_columns(k: int = 5) -> list:
    return [f"{axis}{i}" for i in range(k) for axis in ("x", "y")]


def landmarks_frame(points: np.ndarray) -> pd.DataFrame:
    """``(n, 5, 2)`` landmarks as columns ``x0, y0, ..., x4, y4``."""
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    return pd.DataFrame(points, columns=landmark_columns(points.shape[1] // 2))


def landmarks_array(meta: pd.DataFrame) -> np.ndarray:
    """The ``(n, 5, 2)`` landmarks stored in a FaceSet's ``meta``."""
    return meta[landmark_columns(5)].to_numpy(np.float64).reshape(len(meta), 5, 2)


def read_landmarks5_sidecar(folder) -> dict | None:
    """``landmarks5.csv`` (file, x0, y0, ..., x4, y4) as ``{file: (5, 2)}``, or None if absent."""
    path = Path(folder) / LANDMARKS5_FILE
    if not path.is_file():
        return None
    table = read_csv_checked(path, ["file", *landmark_columns(5)], "landmark sidecar")
    points = table[landmark_columns(5)].to_numpy(np.float64).reshape(-1, 5, 2)
    return dict(zip(table["file"].astype(str), points))


def write_landmarks5_sidecar(folder, files, points) -> None:
    table = landmarks_frame(points)
    table.insert(0, "file", list(files))
    write_csv(Path(folder) / LANDMARKS5_FILE, table)


def align_images(images, landmarks, size: int, desc="aligning") -> np.ndarray:
    """Align each image (grey or RGB) from its five landmarks to RAF's template (``fercore.align``)."""
    from fercore.align import align_face

    channels = (3,) if len(images) and np.ndim(images[0]) == 3 else ()
    out = np.empty((len(images), size, size) + channels, np.uint8)
    for i in progress(range(len(images)), desc=desc, unit="img"):
        out[i] = align_face(images[i], landmarks[i], size=size)[0]
    return out


def read_faces(folder, files, size: int, desc: str = "images", color: bool = False) -> np.ndarray:
    """The images ``folder/<file>`` as ``(n, size, size)`` uint8 faces (``(n, size, size, 3)``
    with ``color``): aligned from the folder's ``landmarks5.csv`` sidecar when it has one (every
    file must be in it), else resized whole."""
    folder = Path(folder)
    paths = [folder / f for f in files]
    sidecar = read_landmarks5_sidecar(folder)
    if sidecar is None:
        return read_images(paths, size=size, desc=desc, color=color)
    missing = [f for f in files if f not in sidecar]
    if missing:
        raise format_error(folder / LANDMARKS5_FILE, f"no landmarks for {missing[0]!r}")
    raw = [read_gray_or_rgb(p, color) for p in progress(paths, desc=desc, unit="img")]
    return align_images(raw, np.stack([sidecar[f] for f in files]), size)


def read_truth(folder, files) -> pd.DataFrame | None:
    """The ground-truth sidecar rows for ``files`` in order, or None when the copy has none."""
    path = Path(folder) / TRUTH_FILE
    if not path.is_file():
        return None
    table = read_csv_checked(path, ["file"], "ground-truth sidecar", dtype={"file": str})
    table = table.drop_duplicates("file").set_index("file")
    missing = [f for f in files if f not in table.index]
    if missing:
        raise format_error(path, f"no ground truth for {len(missing)} image(s), e.g. {missing[0]!r}")
    return table.loc[list(files)].reset_index()


def write_truth(folder, table: pd.DataFrame) -> None:
    if "file" not in table.columns:
        raise ValueError("a ground-truth table needs a 'file' column")
    write_csv(Path(folder) / TRUTH_FILE, table)


def split_from_name(name: str) -> str:
    """RAF-style split from a file name prefix (``train_00001.jpg`` -> ``train``)."""
    match = re.match(r"(train|test|val)_", name)
    return match.group(1) if match else "all"
