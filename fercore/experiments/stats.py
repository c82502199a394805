"""Chapter ``stats``: the datasets' statistics (RAF-DB §3): which datasets the chapter loads and
how, and the AU occurrence rates of its Table 1 analog."""

from fercore import metrics
from fercore.datasets import load
from fercore.labels import EMOTIONS6

LOADING = {"rafdb": [("rafdb-basic", {"subset": "basic"}), ("rafdb-compound", {"subset": "compound"})],
           "ckplus": [("ckplus", {"frames": "first_and_peak"})]}
"""Datasets loaded under several labels or with options; any other name is loaded once, plainly."""


def key(text) -> str:
    """``text`` as one part of a results key (letters, digits, ``_``, ``+`` and ``-``)."""
    return str(text).replace(" ", "_").replace("/", "_")


def load_datasets(data_root, datasets) -> tuple[dict, list]:
    """Load each of ``datasets`` under ``data_root`` (real copies or synthetic ones); returns
    ``(loaded, missing)``: label → :class:`~fercore.datasets.FaceSet`, and the labels not found
    with the reason."""
    loaded, missing = {}, []
    for name in datasets:
        for label, kwargs in LOADING.get(name, [(name, {})]):
            try:
                loaded[label] = load(name, data_root, **kwargs)
            except FileNotFoundError as error:
                missing.append(f"{label} ({error})")
    return loaded, missing


def au_rates(faceset, au_columns, threshold):
    """Percent of each basic emotion's faces (rows, EMOTIONS6) showing each AU (columns) above
    ``threshold`` in the generator's truth."""
    keep = faceset.labels < len(EMOTIONS6)
    presence = (faceset.truth.loc[keep, list(au_columns)].to_numpy() > threshold).astype(int)
    return 100 * metrics.occurrence_rates(presence, faceset.labels[keep], len(EMOTIONS6))

