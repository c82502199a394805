"""The four papers' numbers, read from ``paper_numbers.csv``: the one place the book takes them from.

Each row of the file is one number a paper prints: ``paper`` (rafdb, rafml, sjmt, semantic),
``table`` (the table or section), ``row``, ``column``, ``value`` (as printed), ``unit`` (``%`` or
empty) and ``key`` — the results key under which a chapter records our analog, empty when the
book has none. Rows may share a key (a number the paper prints in two tables) only when they
agree on the value.

Chapters look numbers up by results key (:func:`paper_value`, :func:`paper_values`), on the
scale our results are recorded in (percent as a fraction) unless ``printed=True``, or by
position (:func:`paper_table`, :func:`paper_cell`).
"""

from functools import cache
from pathlib import Path

import pandas as pd

NUMBERS_FILE = Path(__file__).parent / "paper_numbers.csv"
PAPERS = {
    "rafdb": "Li, Deng & Du (CVPR 2017): RAF-DB and DLP-CNN",
    "rafml": "Li & Deng (IJCV 2019): RAF-ML, DBM-CNN and DBM-DACNN",
    "sjmt": "Pons & Masip: selective joint multi-task learning",
    "semantic": "Fu et al.: semantic neighbourhood-aware FER",
}
NUMBER_COLUMNS = ["paper", "table", "row", "column", "value", "unit", "key"]
UNITS = ("%", "")


def load_paper_numbers(path=None) -> pd.DataFrame:
    """The papers' numbers, checked: the expected columns, known papers and units, numeric
    values, one row per (paper, table, row, column), and rows that share a key agree on the value.
    Errors name the file and the line."""
    path = Path(path or NUMBERS_FILE)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(NUMBER_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")

    def line(mask):
        return f"{path}, line {int(mask.to_numpy().nonzero()[0][0]) + 2}"

    unknown = ~table["paper"].isin(list(PAPERS))
    if unknown.any():
        raise ValueError(f"{line(unknown)}: unknown paper id {table['paper'][unknown].iloc[0]!r}; "
                         f"known: {sorted(PAPERS)}")
    bad_unit = ~table["unit"].isin(UNITS)
    if bad_unit.any():
        raise ValueError(f"{line(bad_unit)}: unit must be '%' or empty, got {table['unit'][bad_unit].iloc[0]!r}")
    values = pd.to_numeric(table["value"], errors="coerce")
    if values.isna().any():
        raise ValueError(f"{line(values.isna())}: value {table['value'][values.isna()].iloc[0]!r} is not a number")
    table["value"] = values.astype(float)
    cell = ["paper", "table", "row", "column"]
    again = table.duplicated(cell)
    if again.any():
        raise ValueError(f"{line(again)}: a second row for {tuple(table[cell][again].iloc[0])}")
    scaled = _on_results_scale(table["value"], table["unit"])
    first = scaled.groupby(table["key"]).transform("first")
    disagree = (table["key"] != "") & ((scaled - first).abs() > 1e-9)
    if disagree.any():
        raise ValueError(f"{line(disagree)}: rows with key {table['key'][disagree].iloc[0]!r} disagree on the "
                         "value (percentages compared as fractions)")
    return table


def _on_results_scale(values, units):
    """Percentages as fractions (how the chapters record them), other values unchanged."""
    return values.where(units != "%", (values / 100).round(12))


@cache
def _shipped() -> pd.DataFrame:
    return load_paper_numbers()


def paper_values(prefix="", printed=False) -> dict[str, float]:
    """``{results key: paper value}`` for the keys starting with ``prefix``; percentages as
    fractions unless ``printed`` (then as the paper prints them)."""
    table = _shipped()
    rows = table[(table["key"] != "") & table["key"].str.startswith(prefix)].drop_duplicates("key")
    values = rows["value"] if printed else _on_results_scale(rows["value"], rows["unit"])
    return dict(zip(rows["key"], values.astype(float)))


def paper_value(key, printed=False) -> float:
    """The paper's number beside our results key ``key`` (see :func:`paper_values`)."""
    values = paper_values(key, printed)
    if key not in values:
        raise KeyError(f"{key!r}: no paper number has this results key in {NUMBERS_FILE}")
    return values[key]


def paper_table(paper, table) -> pd.DataFrame:
    """The rows of one table of one paper (``table`` the full name or its start, e.g.
    ``"Table 4"``), with ``result_value``: the value on our results' scale."""
    numbers = _shipped()
    names = numbers["table"]
    rows = numbers[(numbers["paper"] == paper) & ((names == table) | names.str.startswith(f"{table} "))]
    if rows.empty:
        raise ValueError(f"{NUMBERS_FILE}: no table {table!r} of paper {paper!r}")
    if rows["table"].nunique() > 1:
        raise ValueError(f"{NUMBERS_FILE}: {table!r} names several tables of {paper!r}: {sorted(set(rows['table']))}")
    return rows.assign(result_value=_on_results_scale(rows["value"], rows["unit"])).reset_index(drop=True)


def paper_cell(paper, table, row, column) -> float:
    """One number as the paper prints it, by table (see :func:`paper_table`), row and column."""
    rows = paper_table(paper, table)
    hit = rows[(rows["row"] == row) & (rows["column"] == column)]
    if hit.empty:
        raise KeyError(f"{NUMBERS_FILE}: {paper} {table!r} has no cell ({row!r}, {column!r})")
    return float(hit["value"].iloc[0])
