"""The book's shared figures: confusion matrices, annotated heatmaps, 2-D embeddings, face grids,
per-class bar charts.

Every function draws with class names (never indices) and the colours of
:data:`fercore.labels.PALETTE` (compound or other classes get distinct colours from a fixed
qualitative map), takes an optional ``ax`` and returns the matplotlib ``Axes`` (or ``Figure``
for grids). Nothing here calls ``plt.show()`` or changes the backend.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from fercore.labels import PALETTE
from fercore.metrics import confusion_matrix_percent

_EXTRA_COLOURS = plt.get_cmap("tab20").colors


def class_palette(class_names) -> list:
    """One colour per class: the palette's colour for basic classes, then distinct tab20 colours
    (in order of appearance) for classes the palette does not know (e.g. compound classes)."""
    colours, extra = [], 0
    for name in class_names:
        if name in PALETTE:
            colours.append(PALETTE[name])
        else:
            colours.append(_EXTRA_COLOURS[(2 * extra + (extra // 10)) % len(_EXTRA_COLOURS)])
            extra += 1
    return colours


def _axes(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _text_colour(rgba):
    r, g, b = to_rgb(rgba)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def annotated_heatmap(values, row_names, col_names, *, ax=None, title=None, fmt="{:.0f}", cmap="Blues",
                      vmin=None, vmax=None, xlabel=None, ylabel=None, marks=None, colorbar_label=None,
                      fontsize=None):
    """A heatmap with each cell's value written in it (text colour chosen for contrast).

    ``marks`` (a boolean array of the same shape, optional) outlines the marked cells in red —
    e.g. RAF-DB Table 1's asterisks. NaN cells stay blank.
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(row_names), len(col_names)):
        raise ValueError(f"values have shape {values.shape}; expected {(len(row_names), len(col_names))}")
    n_rows, n_cols = values.shape
    ax = _axes(ax, (0.55 * n_cols + 2.5, 0.45 * n_rows + 1.5))
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    cbar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if colorbar_label:
        cbar.set_label(colorbar_label)
    fontsize = fontsize or (9 if max(n_rows, n_cols) <= 8 else 7)
    for i in range(n_rows):
        for j in range(n_cols):
            if np.isfinite(values[i, j]):
                ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=fontsize,
                        color=_text_colour(image.cmap(image.norm(values[i, j]))))
    if marks is not None:
        for i, j in zip(*np.nonzero(np.asarray(marks, dtype=bool))):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(n_cols), col_names, rotation=45, ha="right")
    ax.set_yticks(range(n_rows), row_names)
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    return ax


def confusion_heatmap(percent, class_names, *, ax=None, title=None, xlabel="predicted", ylabel="true"):
    """A row-normalized confusion matrix in percent (rows true class, columns predicted).

    The diagonal — each class's recall — is outlined and its values are written in bold; the
    title gets the mean diagonal (RAF-DB's metric) appended.
    """
    percent = np.asarray(percent, dtype=float)
    k = len(class_names)
    ax = annotated_heatmap(percent, class_names, class_names, ax=ax, fmt="{:.0f}", cmap="Blues", vmin=0,
                           vmax=100, xlabel=xlabel, ylabel=ylabel, colorbar_label="% of the true class",
                           fontsize=9 if k <= 8 else 7)
    for text in ax.texts:
        x, y = text.get_position()
        if x == y:
            text.set_fontweight("bold")
    for i in range(k):
        ax.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.2))
    mean_diag = np.nanmean(np.diag(percent))
    ax.set_title(f"{title + ' — ' if title else ''}mean diagonal {mean_diag:.1f}%")
    return ax


def confusion_matrix(y_true, y_pred, class_names, *, ax=None, title=None, xlabel="predicted", ylabel="true"):
    """Confusion matrix of integer labels, in percent of each true class (:func:`confusion_heatmap`)."""
    percent = confusion_matrix_percent(y_true, y_pred, len(class_names))
    return confusion_heatmap(percent, class_names, ax=ax, title=title, xlabel=xlabel, ylabel=ylabel)


def embed_2d(features, method="umap", seed=0, **params) -> np.ndarray:
    """2-D coordinates ``(n, 2)`` of a feature matrix by ``"umap"``, ``"pca"`` or ``"tsne"``.

    Deterministic for a given ``seed`` (UMAP then runs single-threaded). Extra ``params`` go to
    the method (e.g. ``n_neighbors`` for UMAP, ``perplexity`` for t-SNE).
    """
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or len(X) < 3:
        raise ValueError(f"features must be a 2-D array with at least 3 rows; got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features contain NaN or infinite values")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed, **params).fit_transform(X)
    if method == "tsne":
        from sklearn.manifold import TSNE

        params.setdefault("perplexity", min(30.0, (len(X) - 1) / 3))
        return TSNE(n_components=2, random_state=seed, init="pca", **params).fit_transform(X)
    if method == "umap":
        import warnings

        import umap

        params.setdefault("n_neighbors", min(15, len(X) - 1))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs.*overridden.*")
            return umap.UMAP(n_components=2, random_state=seed, **params).fit_transform(X)
    raise ValueError(f"unknown embedding method {method!r}; choose 'umap', 'pca' or 'tsne'")


def plot_embedding(coords, labels, class_names, *, ax=None, title=None, s=8, alpha=0.7, xlabel=None,
                   ylabel=None, legend=True):
    """Scatter of 2-D coordinates coloured by class (``labels`` are indices into ``class_names``).

    Classes are drawn in order with the book's palette and named in the legend.
    """
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2); got {coords.shape}")
    if labels.shape != (len(coords),):
        raise ValueError(f"labels must have shape ({len(coords)},); got {labels.shape}")
    ax = _axes(ax, (6, 5))
    for index, (name, colour) in enumerate(zip(class_names, class_palette(class_names))):
        mask = labels == index
        if mask.any():
            ax.scatter(coords[mask, 0], coords[mask, 1], s=s, alpha=alpha, color=colour, label=name,
                       edgecolors="none")
    ax.set_xlabel(xlabel or "dimension 1")
    ax.set_ylabel(ylabel or "dimension 2")
    if legend:
        ax.legend(markerscale=2, fontsize=8, loc="best", frameon=True)
    if title:
        ax.set_title(title)
    return ax


def face_grid(images, titles=None, *, ncols=8, face_inches=1.4, suptitle=None, cmap="gray"):
    """Faces in a grid, each ``face_inches`` wide (large enough to read the expression).

    ``images``: ``(n, H, W)`` grayscale or ``(n, H, W, 3)`` RGB (uint8 or float); ``titles``: optional
    caption per face.
    Returns the ``Figure``.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0 or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"images must have shape (n, height, width) or (n, height, width, 3) with n ≥ 1; "
                         f"got {images.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    title_space = 0.25 if titles is not None else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * face_inches, nrows * (face_inches + title_space)),
                             squeeze=False)
    vmax = 255 if images.dtype == np.uint8 or images.max() > 1.0 else 1.0
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap, vmin=0, vmax=vmax, interpolation="lanczos")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def class_bars(values, class_names, *, ax=None, title=None, ylabel="accuracy (%)", series_names=None,
               reference=None, reference_label="chance"):
    """Per-class bar chart, bars coloured by class.

    ``values``: one value per class, or a 2-D array ``(n_series, n_classes)`` drawn as grouped
    bars (series distinguished by hatching and named by ``series_names``). ``reference``: an
    optional horizontal line (e.g. the chance level).
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    n_series, k = values.shape
    if k != len(class_names):
        raise ValueError(f"got {k} values per series for {len(class_names)} classes")
    if series_names is not None and len(series_names) != n_series:
        raise ValueError(f"got {len(series_names)} series names for {n_series} series")
    ax = _axes(ax, (max(5.0, 0.6 * k * n_series + 2), 3.5))
    width = 0.8 / n_series
    colours = class_palette(class_names)
    hatches = ["", "//", "..", "xx", "\\\\"]
    for s in range(n_series):
        positions = np.arange(k) - 0.4 + width * (s + 0.5)
        ax.bar(positions, values[s], width=width, color=colours, edgecolor="black", linewidth=0.5,
               hatch=hatches[s % len(hatches)])
    handles = []
    if series_names is not None:
        handles = [Patch(facecolor="white", edgecolor="black", hatch=hatches[s % len(hatches)], label=name)
                   for s, name in enumerate(series_names)]
    if reference is not None:
        handles.append(ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=reference_label))
    ax.set_xticks(range(k), class_names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if handles:
        ax.legend(handles=handles, fontsize=8)
    if title:
        ax.set_title(title)
    return ax
