"""A blind labelling test of the synthetic faces: does a person read the labelled expression?

``make`` renders ``per_class`` faces of each basic class (half lab, half wild, see
:func:`fercore.synth.realism.blind_set`), shuffles them and writes numbered sheets
``sheet-1.png``… (the labeller's view, no labels) and ``key.json`` (the answers; do not open it
before labelling). ``score`` reads the labeller's answers — a text file with one line
``<number> <class>`` per face (class names or their first three letters: sur fea dis hap sad ang
neu) — and prints per-class recall, by domain and overall, and the confusion matrix.

    python tests/benchmarks/blind_labelling.py make OUT [--seed S] [--per-class 10]
    python tests/benchmarks/blind_labelling.py score OUT/key.json ANSWERS.txt
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from fercore.labels import BASIC7
from fercore.synth.realism import blind_set

PER_SHEET = 20
COLUMNS = 5
TILE = 200


def make(out: Path, seed: int, per_class: int) -> None:
    images, labels, domains = blind_set(per_class, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for sheet, start in enumerate(range(0, len(images), PER_SHEET), 1):
        chunk = images[start:start + PER_SHEET]
        rows = int(np.ceil(len(chunk) / COLUMNS))
        canvas = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + 18)), "white")
        draw = ImageDraw.Draw(canvas)
        for k, image in enumerate(chunk):
            x, y = (k % COLUMNS) * TILE, (k // COLUMNS) * (TILE + 18)
            canvas.paste(Image.fromarray(image).resize((TILE, TILE), Image.LANCZOS), (x, y + 18))
            draw.text((x + 4, y + 3), str(start + k + 1), fill="black")
        canvas.save(out / f"sheet-{sheet}.png")
    key = [{"number": i + 1, "label": str(c), "domain": str(d)}
           for i, (c, d) in enumerate(zip(labels, domains))]
    (out / "key.json").write_text(json.dumps(key, indent=1))
    print(f"{len(images)} faces on {sheet} sheets in {out}; answers in {out / 'key.json'}")


def parse_answers(path: Path) -> dict:
    short = {name[:3]: name for name in BASIC7}
    answers = {}
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or parts[1].lower()[:3] not in short:
            raise ValueError(f"{path}, line {line_no}: expected '<number> <class>', got {line!r}")
        answers[int(parts[0])] = short[parts[1].lower()[:3]]
    return answers


def score(key_path: Path, answers_path: Path) -> None:
    key = pd.DataFrame(json.loads(key_path.read_text()))
    answers = parse_answers(answers_path)
    missing = sorted(set(key["number"]) - set(answers))
    if missing:
        raise ValueError(f"{answers_path}: no answer for faces {missing}")
    key["answer"] = key["number"].map(answers)
    key["correct"] = key["answer"] == key["label"]
    table = pd.DataFrame({
        domain: key[key["domain"] == domain].groupby("label")["correct"].mean()
        for domain in ("lab", "wild")})
    table["all"] = key.groupby("label")["correct"].mean()
    table = table.reindex(list(BASIC7))
    print(table.round(2).to_string())
    print("mean per-class recall:", table.mean().round(3).to_dict())
    confusion = pd.crosstab(key["label"], key["answer"]).reindex(index=list(BASIC7), columns=list(BASIC7),
                                                                  fill_value=0)
    print("confusion (rows true, columns answered):")
    print(confusion.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("make")
    made.add_argument("out", type=Path)
    made.add_argument("--seed", type=int, default=0)
    made.add_argument("--per-class", type=int, default=10)
    scored = commands.add_parser("score")
    scored.add_argument("key", type=Path)
    scored.add_argument("answers", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        make(args.out, args.seed, args.per_class)
    else:
        score(args.key, args.answers)


if __name__ == "__main__":
    main()
