"""A kept model on photographs: detect, align, predict each face's emotion probabilities.

``fercore predict PHOTOS... [--model CHAPTER/METHOD] [--out DIR]`` calls :func:`predict_photos`
and, with ``--out``, :func:`draw_faces` and :func:`write_predictions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from fercore.detect import FaceDetector, detect_photos
from fercore.labels import PALETTE
from fercore.models import MODELS_DIR, load_model, predict_proba

DEFAULT_MODELS = ("dlp_dbm/dlp", "dlp_dbm/softmax", "real_photos/dlp", "real_photos/softmax")
"""Models ``fercore predict`` tries, in order, when none is named."""


def choose_model(spec, profile_dir, device="cpu"):
    """:func:`fercore.models.load_model` of ``spec``, or of the first kept of
    :data:`DEFAULT_MODELS` when ``spec`` is None."""
    if spec:
        return load_model(spec, profile_dir, device)
    for default in DEFAULT_MODELS:
        try:
            return load_model(default, profile_dir, device)
        except FileNotFoundError:
            pass
    kept = sorted(f"{p.parent.name}/{p.stem}" for p in (Path(profile_dir) / MODELS_DIR).glob("*/*.pt"))
    raise FileNotFoundError(f"{Path(profile_dir) / MODELS_DIR}: none of the default models {list(DEFAULT_MODELS)} "
                            f"is kept (kept: {kept or 'none'}); run the real_photos chapter or pass --model")


@dataclass
class PhotoPrediction:
    """The faces of one photo with their class probabilities (faces × classes), or its error."""

    path: Path
    faces: list
    aligned: np.ndarray | None
    probabilities: np.ndarray | None
    error: str | None = None
    photo: object = None


def predict_photos(inputs, net, detector: FaceDetector | None = None, keep_photo: bool = False):
    """One :class:`PhotoPrediction` per file of ``inputs`` (files and folders): every face the
    detector keeps, aligned and scored by ``net`` (see :func:`fercore.models.predict_proba`)."""
    for result in detect_photos(inputs, detector, keep_photo=keep_photo):
        if result.error:
            yield PhotoPrediction(result.path, [], None, None, result.error, result.photo)
        else:
            yield PhotoPrediction(result.path, result.faces, result.aligned,
                                  predict_proba(net, result.aligned), photo=result.photo)


def prediction_table(predictions, class_names) -> pd.DataFrame:
    """One row per face: file, face number, box, predicted class, and each class's probability."""
    rows = []
    for p in predictions:
        if p.error:
            continue
        for i, (face, probs) in enumerate(zip(p.faces, p.probabilities)):
            row = {"file": str(p.path), "face": i, "x1": face.box[0], "y1": face.box[1],
                   "x2": face.box[2], "y2": face.box[3], "score": face.score,
                   "prediction": class_names[int(np.argmax(probs))]}
            row.update({c: float(v) for c, v in zip(class_names, probs)})
            rows.append(row)
    columns = ["file", "face", "x1", "y1", "x2", "y2", "score", "prediction", *class_names]
    return pd.DataFrame(rows, columns=columns)


def write_predictions(path, table: pd.DataFrame) -> None:
    """The prediction table as CSV, written atomically."""
    from fercore.datasets.base import write_csv

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    write_csv(tmp, table)
    tmp.replace(path)


def draw_faces(prediction: PhotoPrediction, class_names) -> Image.Image:
    """The photo with each face's box, five points and most likely class drawn on it."""
    photo = prediction.photo
    im = Image.fromarray(photo.rgb)
    draw = ImageDraw.Draw(im)
    line = max(2, round(max(im.size) / 300))
    for face, probs in zip(prediction.faces, prediction.probabilities):
        name = class_names[int(np.argmax(probs))]
        colour = PALETTE.get(name, "#ffffff")
        draw.rectangle(face.box.tolist(), outline=colour, width=line)
        r = line * 1.5
        for x, y in face.landmarks:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        label = f"{name} {probs.max():.2f}"
        size = max(10, round((face.box[2] - face.box[0]) / 7))
        x, y = face.box[0], max(0, face.box[1] - 1.3 * size)
        draw.rectangle(draw.textbbox((x, y), label, font_size=size), fill=colour)
        draw.text((x, y), label, fill="white", font_size=size)
    return im


def plot_predictions(faces, probabilities, class_names, titles=None, truths=None, ncols: int = 4):
    """Each aligned face beside a bar chart of its class probabilities (the true class, when
    ``truths`` names it, outlined in black). Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    n = len(faces)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, 2 * ncols, figsize=(4.2 * ncols, 2.1 * nrows),
                             gridspec_kw={"width_ratios": [1, 1.1] * ncols}, squeeze=False)
    colours = [PALETTE.get(c, "#444444") for c in class_names]
    for i in range(nrows * ncols):
        face_ax, bar_ax = axes[i // ncols, 2 * (i % ncols)], axes[i // ncols, 2 * (i % ncols) + 1]
        face_ax.axis("off")
        if i >= n:
            bar_ax.axis("off")
            continue
        face_ax.imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        face_ax.set_title(titles[i] if titles is not None else "", fontsize=8)
        bars = bar_ax.barh(range(len(class_names)), probabilities[i], color=colours)
        if truths is not None and truths[i] in class_names:
            bars[class_names.index(truths[i])].set(edgecolor="black", linewidth=1.5)
        bar_ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
        bar_ax.invert_yaxis()
        bar_ax.set_xlim(0, 1)
        bar_ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig
