import matplotlib

matplotlib.use("Agg")  # tests only; notebooks keep the inline backend

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex

from fercore import plots
from fercore.labels import BASIC7, COMPOUND11, PALETTE


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_class_palette_uses_the_book_palette_and_distinct_extras():
    assert plots.class_palette(BASIC7) == [PALETTE[c] for c in BASIC7]
    extra = [to_hex(c) for c in plots.class_palette(COMPOUND11)]
    assert len(set(extra)) == 11


def test_confusion_matrix_percent_with_names_and_diagonal():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0, 2])
    names = ["surprise", "fear", "disgust"]
    ax = plots.confusion_matrix(y_true, y_pred, names, title="test")
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert ((0, 0), "50") in texts and ((1, 1), "100") in texts and ((2, 2), "75") in texts
    bold = [t for t in ax.texts if t.get_fontweight() == "bold"]
    assert len(bold) == 3
    assert "mean diagonal 75.0%" in ax.get_title()
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"


def test_annotated_heatmap_marks_and_shape_check():
    values = np.array([[97.0, 10.0], [np.nan, 40.0]])
    ax = plots.annotated_heatmap(values, ["a", "b"], ["AU1", "AU2"], marks=[[False, True], [False, False]])
    assert len(ax.texts) == 3  # NaN left blank
    assert len(ax.patches) == 1
    with pytest.raises(ValueError, match="shape"):
        plots.annotated_heatmap(values, ["a"], ["AU1", "AU2"])


@pytest.mark.parametrize("method,params", [("pca", {}), ("tsne", {"max_iter": 250}), ("umap", {"n_epochs": 50})])
def test_embed_2d_is_deterministic(method, params):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (30, 10)), rng.normal(5, 1, (30, 10))])
    a = plots.embed_2d(X, method=method, seed=1, **params)
    b = plots.embed_2d(X, method=method, seed=1, **params)
    assert a.shape == (60, 2)
    np.testing.assert_allclose(a, b)


def test_embed_2d_bad_method():
    with pytest.raises(ValueError, match="unknown embedding"):
        plots.embed_2d(np.zeros((5, 3)), method="mds")


def test_plot_embedding_legend_and_colours():
    coords = np.random.default_rng(0).normal(size=(14, 2))
    labels = np.arange(14) % 7
    ax = plots.plot_embedding(coords, labels, BASIC7, title="emb")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(BASIC7)
    colours = [to_hex(c.get_facecolor()[0]) for c in ax.collections]
    assert colours == [PALETTE[c] for c in BASIC7]
    with pytest.raises(ValueError, match="labels"):
        plots.plot_embedding(coords, labels[:3], BASIC7)


def test_face_grid_size_and_titles():
    images = np.random.default_rng(0).integers(0, 256, (10, 100, 100)).astype(np.uint8)
    fig = plots.face_grid(images, titles=[f"f{i}" for i in range(10)], ncols=5)
    width, height = fig.get_size_inches()
    assert width == pytest.approx(5 * 1.4) and height > 2 * 1.4
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 10 and shown[3].get_title() == "f3"
    with pytest.raises(ValueError, match="titles"):
        plots.face_grid(images, titles=["a"])


def test_class_bars_grouped():
    values = np.array([[50, 60, 70], [40, 50, 60]])
    ax = plots.class_bars(values, ["surprise", "fear", "disgust"], series_names=["ours", "paper"], reference=33.3)
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ours", "paper", "chance"]
    with pytest.raises(ValueError, match="classes"):
        plots.class_bars([1, 2], ["surprise", "fear", "disgust"])
