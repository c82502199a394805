"""The papers' numbers file: validation with file and line, lookups, and the papers' own totals."""

import re

import pytest

from fercore import paper, report


def test_the_papers_own_totals_hold():
    # RAF-DB Table 4: each row's average is the mean of its seven classes (the paper's own
    # mSVM DLP-CNN row averages to 74.33, though it prints 74.20).
    t4 = paper.paper_table("rafdb", "Table 4")
    classes = t4[~t4["column"].str.endswith("average")].groupby("row")["value"].mean()
    printed = t4[t4["column"] == "basic average"].set_index("row")["value"]
    gap = (classes - printed).abs()
    assert len(gap) == 10 and (gap.drop("mSVM DLP-CNN") < 0.01).all()
    assert gap["mSVM DLP-CNN"] == pytest.approx(0.13, abs=0.01)
    # SJMT Table 4: the classes' images add up to "All images".
    sj = paper.paper_table("sjmt", "Table 4").query("column == 'images'").set_index("row")["value"]
    assert sj.drop("All images").sum() == sj["All images"] == 722
    # RAF-ML prints the MLkNN rows of baseDCNN and DBM-CNN in both Table 3 and Table 4.
    t3 = paper.paper_table("rafml", "Table 3").set_index(["row", "column"])["value"]
    t4ml = paper.paper_table("rafml", "Table 4").set_index(["row", "column"])["value"]
    for row3, row4 in (("MLkNN baseDCNN", "baseDCNN (= Table 3, MLkNN baseDCNN)"),
                       ("MLkNN DBM-CNN", "DBM-CNN (S^f + S^l) (= Table 3, MLkNN DBM-CNN)")):
        assert (t3[row3] == t4ml[row4]).all() and len(t4ml[row4]) == 9


# ------------------------------------------------------------------ lookups


def test_lookups_by_key_and_by_cell():
    assert paper.paper_value("dlp.dlp_cnn.svm.mean_diag.basic") == pytest.approx(0.742)
    assert paper.paper_value("dlp.dlp_cnn.svm.mean_diag.basic", printed=True) == 74.2
    assert paper.paper_value("multilabel.hog.clr.coverage") == 2.995  # no unit: as printed
    assert paper.paper_values("da.ckplus.") == pytest.approx(
        {"da.ckplus.dbm_cnn.accuracy": 0.9427, "da.ckplus.dbm_dacnn.accuracy": 0.9518,
         "da.ckplus.dbm_dacnn_entropy.accuracy": 0.9646})
    table6 = paper.paper_table("rafml", "Table 6")
    assert len(table6) == 12 and table6["result_value"].max() == pytest.approx(0.9646)
    assert paper.paper_cell("semantic", "Table III", "Annotators Agreement", "accuracy") == 65.3
    with pytest.raises(KeyError, match="no paper number"):
        paper.paper_value("dlp.nothing")
    with pytest.raises(ValueError, match="several tables"):
        paper.paper_table("semantic", "§IV-D")
    with pytest.raises(ValueError, match="no table"):
        paper.paper_table("sjmt", "Table 9")
    with pytest.raises(KeyError, match="no cell"):
        paper.paper_cell("sjmt", "Table 4", "All images", "accuracy")


# ------------------------------------------------------------------ bad files


HEADER = "paper,table,row,column,value,unit,key\n"


@pytest.mark.parametrize("rows, message", [
    ("rafdb,T,r,c,1,%,a.b\nrafdb,T,r,c,2,%,\n", "line 3: a second row"),
    ("rafdb,T,r,c,1,pct,\n", "line 2: unit must be"),
    ("rafdb,T,r,c,n/a,,\n", "line 2: value 'n/a' is not a number"),
    ("nature,T,r,c,1,,\n", "line 2: unknown paper id 'nature'"),
    ("rafdb,T,r,c,50,%,a.b\nrafml,U,r,c,0.4,,a.b\n", "line 3: rows with key 'a.b' disagree"),
])
def test_bad_numbers_file_names_file_and_line(tmp_path, rows, message):
    bad = tmp_path / "n.csv"
    bad.write_text(HEADER + rows)
    with pytest.raises(ValueError, match=re.escape(f"n.csv, {message}")):
        paper.load_paper_numbers(bad)


def test_rows_may_share_a_key_when_they_agree(tmp_path):
    good = tmp_path / "n.csv"
    good.write_text(HEADER + "rafdb,T,r,c,50,%,a.b\nrafml,U,r,c,0.5,,a.b\n")
    assert len(paper.load_paper_numbers(good)) == 2


def test_bad_numbers_file_is_named(tmp_path):
    bad = tmp_path / "n.csv"
    bad.write_text("paper,table,row\nrafdb,T,r\n")
    with pytest.raises(ValueError, match="n.csv: missing columns"):
        report.load_paper_numbers(bad)
