"""Emotion and action-unit vocabularies, canonical orders and the book's one colour palette.

Every chapter indexes classes in the orders defined here, so confusion matrices, legends and
tables agree across the book. The basic order is RAF-DB's (label file values 1..7).
"""

BASIC7 = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
"""RAF-DB's seven basic classes; index i is label i+1 in ``list_patition_label.txt``."""

EMOTIONS6 = BASIC7[:6]
"""The six basic emotions (RAF-ML's label space, JAFFE's rated emotions)."""

CONTEMPT = "contempt"

COMPOUND11 = (
    "happily surprised",
    "happily disgusted",
    "sadly fearful",
    "sadly angry",
    "sadly surprised",
    "sadly disgusted",
    "fearfully angry",
    "fearfully surprised",
    "angrily surprised",
    "angrily disgusted",
    "disgustedly surprised",
)
"""RAF-DB's eleven compound classes (fearfully disgusted dropped, as in the paper); label i+1."""

COMPOUND_COMPONENTS = {
    "happily surprised": ("happiness", "surprise"),
    "happily disgusted": ("happiness", "disgust"),
    "sadly fearful": ("sadness", "fear"),
    "sadly angry": ("sadness", "anger"),
    "sadly surprised": ("sadness", "surprise"),
    "sadly disgusted": ("sadness", "disgust"),
    "fearfully angry": ("fear", "anger"),
    "fearfully surprised": ("fear", "surprise"),
    "angrily surprised": ("anger", "surprise"),
    "angrily disgusted": ("anger", "disgust"),
    "disgustedly surprised": ("disgust", "surprise"),
}
"""Each compound class as the pair of basic emotions it combines (Du et al. 2014)."""

AUS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 17, 20, 23, 24, 25, 26, 28, 43)
"""The 20 FACS action units of py-feat's AU-to-mesh model, in its column order."""

PALETTE = {
    "surprise": "#f2a900",
    "fear": "#8e44ad",
    "disgust": "#2e8b57",
    "happiness": "#e4572e",
    "sadness": "#2f6db5",
    "anger": "#b22222",
    "neutral": "#7f7f7f",
    "contempt": "#8c6d31",
}
"""One colour per basic class, used by every plot in the book."""
