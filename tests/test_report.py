"""The reproduction report: paper numbers beside ours, claims checked, files validated."""

import pandas as pd
import pytest

from fercore import report
from fercore.results import write_json_atomic


def _numbers():
    return pd.DataFrame(
        [
            ["rafdb", "Table 4", "DLP-CNN", "basic", 74.2, "%", "dlp.dlp_cnn.mean_diag.basic"],
            ["rafdb", "Table 4", "VGG", "basic", 58.2, "%", "dlp.vgg.mean_diag.basic"],
        ],
        columns=report.NUMBER_COLUMNS,
    )


def test_report_puts_paper_and_ours_side_by_side_and_checks_claims(tmp_path):
    write_json_atomic(
        tmp_path / "p" / "dlp_dbm.json",
        {
            "parameters": {"data_root": "data/p"}, "seed": 0, "device": "cpu",
            "metrics": {"dlp.dlp_cnn.mean_diag.basic": 0.6, "dlp.dlp_cnn.mean_diag.basic.sd": 0.02,
                        "dlp.dlp_cnn.mean_diag.basic.n_seeds": 3, "dlp.base.mean_diag.basic": 0.7},
        },
    )
    claims = [
        {"paper": "rafdb", "claim": "DLP beats base", "better": "dlp.dlp_cnn.mean_diag.basic", "worse": "dlp.base.mean_diag.basic"},
        {"paper": "rafdb", "claim": "never run", "better": "x.y", "worse": "dlp.base.mean_diag.basic"},
    ]
    text = report.report_markdown("p", tmp_path, _numbers(), claims)
    assert "| DLP-CNN | basic | 74.2 % | 60.00 ± 2.00 |" in text
    assert "| VGG | basic | 58.2 % | not run |" in text
    assert "**not reproduced**" in text and "**not run**" in text
    assert "(synthetic)" in text


def test_shipped_numbers_and_claims_are_valid():
    numbers = report.load_paper_numbers()
    assert not numbers.empty
    assert set(numbers["unit"]) <= {"%", ""}
    assert report.load_claims()


def test_bad_numbers_file_is_named(tmp_path):
    bad = tmp_path / "n.csv"
    bad.write_text("paper,table,row\nrafdb,T,r\n")
    with pytest.raises(ValueError, match="n.csv: missing columns"):
        report.load_paper_numbers(bad)
