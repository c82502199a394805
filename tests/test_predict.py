"""``fercore predict``: a kept model on a folder of photos, bad files reported and skipped."""

import numpy as np
import pandas as pd
import torch
from PIL import Image

from fercore.cli import main
from fercore.models import save_model
from fercore.nets import BaseDCNN
from fercore.sample_photos import face_photos


def test_predict_a_folder_with_a_bad_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    save_model(BaseDCNN(7, width=0.125, input_size=40, feature_dim=32).eval(), "real_photos", "softmax", 0,
               "f", tmp_path / "results" / "smoke")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(face_photos()["multi_face"]).save(photos / "group.jpg")
    Image.open(face_photos()["astronaut"]).save(photos / "astronaut.png")
    (photos / "readme.txt").write_text("not a photo")
    rc = main(["predict", str(photos), "--profile", "smoke", "--device", "cpu", "--out", "drawn", "--all-faces"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"skipped: {photos / 'readme.txt'}: not an image file" in err
    assert "6 face(s) in 2 photo(s); 1 file(s) skipped" in out
    table = pd.read_csv(tmp_path / "drawn" / "predictions.csv")
    assert len(table) == 6 and set(table["face"]) == {0, 1, 2, 3, 4}
    probs = table[["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    assert (tmp_path / "drawn" / "group_faces.png").is_file()


def test_predict_names_the_models_kept_when_the_one_asked_for_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["predict", str(face_photos()["astronaut"]), "--model", "dlp_dbm/dlp", "--profile", "smoke"])
    assert rc == 2
    assert "no saved model 'dlp'" in capsys.readouterr().err
