"""How real the synthetic faces look: sample faces per emotion, and check their geometry with a
real-face detector.

* :func:`expression_faces` renders faces of given basic emotions in a domain, as the world's
  writers do (identity expressivity, domain nuisance), aligned to RAF-DB's template: the faces
  of the realism grids and of a blind labelling test (``tests/benchmarks/blind_labelling.py``).
* :func:`mtcnn_agreement` runs MTCNN (Zhang et al., "Joint face detection and alignment using
  multitask cascaded convolutional networks", IEEE SPL 2016; the three stages shipped inside the
  ``facenet-pytorch`` wheel) on unaligned faces the way the world writes them and compares its
  five points with the generator's: detection rate and mean point distance in inter-ocular
  distances (the distance between the true eye centres); with ``lab_factors``, some nuisance
  factors drawn as in the lab (``tests/benchmarks/bench_mtcnn_factors.py``).
* :func:`turn_drift` measures how the detector's points drift sideways as heads turn, and
  :func:`mtcnn_repeatability` MTCNN's own noise (the same face moved a few pixels).
* :func:`brow_and_lid_motion` measures in millimetres how far the drawn brows rise and the eyes
  open, beside what real faces can do.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from fercore.labels import AUS, BASIC7
from fercore.synth.expressions import EXPRESSIONS, sample_aus
from fercore.synth.identity import sample_identities
from fercore.synth.nuisance import sample_nuisance
from fercore.synth.render import render_faces
from fercore.synth.writers import RAW_IOD, world_nuisance

MTCNN_PIXEL_ORIGIN = 0.5
"""facenet-pytorch's MTCNN measures points from pixel edges (its O-net output is
``box_x1 - 1 + width * p`` over a 1-based box): a pixel centre is at +0.5."""
FRONTAL_YAW = 15.0
"""Largest head yaw (degrees) of the faces :func:`mtcnn_agreement` counts as frontal."""
INTERPUPILLARY_MM = 63.0
"""Adult inter-pupillary distance (mm) that turns the mesh's inter-ocular units into millimetres."""
BROW_RAISE_MAX_MM = (7.6, 9.0)
"""The most an adult can raise the brow above the middle of the eye: the range of the age groups'
means in Cruz & Cruz (Arq. Bras. Oftalmol. 2004; 81 people, maximal frontalis contraction)."""
EYE_OPENING_MM = {"at rest": (8.0, 10.0), "retracted lids (thyroid eye disease)": (15.0, 18.0)}
"""Height of the eye opening (upper to lower lid margin) of adults looking ahead, and in the lid
retraction of thyroid eye disease (Dutton, *Surgical management of eyelid retraction*)."""
MID_BROW = (105, 334)
"""Brow vertices above the middle of each eye (MediaPipe)."""
UPPER_LID_MIDDLE, LOWER_LID_MIDDLE = (159, 386), (145, 374)
FAR_LANDMARKS = 0.25
"""Mean point distance (inter-ocular distances) beyond which MTCNN has misplaced the whole face
(eyes on the brows, mouth on the cheeks) rather than misjudged a point."""
LAB_FACTORS = {"pose": ("yaw", "pitch", "roll", "gaze"), "light": ("light", "light_intensity", "ambient"),
               "occluders": ("occluder",), "blur": ("blur", "low_res"), "noise": ("noise", "jpeg_quality"),
               "background": ("background", "clutter")}
"""Nuisance factors (groups of :class:`~fercore.synth.nuisance.Nuisance` fields) that
:func:`expression_faces` can draw as in the lab, to see what each costs a detector; a single
field of a group (``"yaw"``) can be named too."""


def _lab_fields(lab_factors) -> list:
    """The Nuisance fields that ``lab_factors`` (group names of :data:`LAB_FACTORS` or fields of
    its groups) name; a ValueError names the unknown ones."""
    fields = {field for group in LAB_FACTORS.values() for field in group}
    unknown = sorted(set(lab_factors) - set(LAB_FACTORS) - fields)
    if unknown:
        raise ValueError(f"unknown lab_factors {unknown}; expected names from {sorted(LAB_FACTORS)} "
                         f"or their fields {sorted(fields)}")
    return [field for name in lab_factors for field in LAB_FACTORS.get(name, (name,))]


def expression_faces(emotions, domain: str, seed: int = 0, size: int = 100, strength=None,
                     raw: bool = False, color: bool = False, lab_factors=()):
    """Render one face per entry of ``emotions`` (basic class names) in ``domain``.

    Each face has its own identity (:func:`~fercore.synth.identity.sample_identities`, RAF-DB's
    attribute frequencies) and nuisance (:func:`~fercore.synth.nuisance.sample_nuisance`); AUs
    are drawn by :func:`~fercore.synth.expressions.sample_aus` with the identity's expressivity,
    or, with ``strength`` (a number), are the emotion's prototype times ``strength`` with no
    identity gain (the prototype grids). ``color`` renders RGB images. ``lab_factors`` (names
    from :data:`LAB_FACTORS`, or single fields of its groups) are drawn as in the lab instead,
    everything else as without them.
    Returns :class:`~fercore.synth.render.RenderedFaces`, the AUs (n, 20) and the
    :class:`~fercore.synth.nuisance.Nuisance`.
    """
    emotions = list(emotions)
    unknown = sorted(set(emotions) - set(EXPRESSIONS))
    if unknown:
        raise ValueError(f"unknown emotions {unknown}; expected names from {EXPRESSIONS}")
    lab_fields = _lab_fields(lab_factors)
    rng = np.random.default_rng(seed)
    n = len(emotions)
    identities = sample_identities(n, rng)
    weights = np.zeros((n, len(EXPRESSIONS)))
    weights[np.arange(n), [EXPRESSIONS.index(e) for e in emotions]] = 1.0
    if strength is None:
        aus = sample_aus(weights, domain, rng, au_gain=identities.au_gain)
    else:
        from fercore.synth.expressions import prototype_matrix

        aus = (weights @ prototype_matrix() * float(strength)).astype(np.float32)
    nuisance = world_nuisance(domain, n, rng)
    if lab_factors:
        lab = world_nuisance("lab", n, np.random.default_rng((seed, 1)))
        for field in lab_fields:
            getattr(nuisance, field)[:] = getattr(lab, field)
    faces = render_faces(aus, identities, nuisance, size=size, seed=seed, raw=raw, workers=None,
                         desc=f"{domain} faces", color=color)
    return faces, aus, nuisance


def prototype_sheet(seed: int = 0, strengths=(0.5, 1.0, 1.5), people: int = 2, color: bool = True):
    """Each basic emotion's prototype at several ``strengths`` on ``people`` lab faces.

    Returns ``{emotion: (images, captions)}``, each row ``people`` × ``len(strengths)`` faces
    (person by person, strength by strength); the same people for every emotion, frontal.
    """
    from fercore.synth.expressions import prototype_matrix

    rng = np.random.default_rng(seed)
    persons = sample_identities(people, rng)
    rows = [(e, p, t) for e in BASIC7 for p in range(people) for t in strengths]
    aus = np.stack([prototype_matrix()[EXPRESSIONS.index(e)] * t for e, _, t in rows]).astype(np.float32)
    nuisance = sample_nuisance("lab", len(rows), rng)
    nuisance.yaw[:], nuisance.pitch[:], nuisance.roll[:] = 0, 0, 0
    nuisance.gaze[:] = 0
    who = np.array([p for _, p, _ in rows])
    nuisance.seed[:] = nuisance.seed[who]
    faces = render_faces(aus, persons[who], nuisance, size=100, seed=seed, color=color,
                         desc="prototypes").aligned
    per_row = people * len(strengths)
    return {e: (faces[k * per_row:(k + 1) * per_row], [f"× {t:g}" for _, _, t in rows[:per_row]])
            for k, e in enumerate(BASIC7)}


def blind_set(per_class: int = 10, seed: int = 0, classes=BASIC7):
    """A shuffled labelling test: ``per_class`` faces of each class, half lab and half wild,
    each as the world writes it (lab grey as CK+, wild in colour as RAF-DB).

    Returns aligned RGB images (n, 100, 100, 3), their class names and domains, in shuffled order.
    """
    lab_n = per_class - per_class // 2
    wild_n = per_class // 2
    lab_classes = [c for c in classes for _ in range(lab_n)]
    wild_classes = [c for c in classes for _ in range(wild_n)]
    lab = expression_faces(lab_classes, "lab", seed=seed)[0]
    wild = expression_faces(wild_classes, "wild", seed=seed + 1, color=True)[0]
    images = np.concatenate([np.repeat(lab.aligned[..., None], 3, axis=-1), wild.aligned])
    labels = np.array(lab_classes + wild_classes, dtype=object)
    domains = np.array(["lab"] * len(lab_classes) + ["wild"] * len(wild_classes), dtype=object)
    order = np.random.default_rng(seed + 2).permutation(len(images))
    return images[order], labels[order], domains[order]


@functools.lru_cache(maxsize=1)
def _detector():
    from fercore.detect import FaceDetector

    with warnings.catch_warnings():       # facenet-pytorch's tqdm.auto import warns in notebooks
        warnings.simplefilter("ignore")
        try:
            return FaceDetector(keep="largest", device="cpu")
        except RuntimeError as missing:
            raise ImportError(str(missing)) from None


def mtcnn_points(images):
    """MTCNN's five points (RAF-DB order; :class:`fercore.detect.FaceDetector`, largest face) in
    each image, in pixel coordinates with pixel centres at integers (as fercore's landmarks), or
    NaN where it finds none. ``images``: a list of (h, w) grey or (h, w, 3) uint8 arrays."""
    out = np.full((len(images), 5, 2), np.nan)
    detector = _detector()
    for i, image in enumerate(images):
        faces = detector.detect(np.asarray(image))[0]
        if faces:
            out[i] = faces[0].landmarks - MTCNN_PIXEL_ORIGIN
    return out


MIRROR_ORDER = [1, 0, 2, 4, 3]
"""The five points' order on a mirrored face: left and right eyes and mouth corners swap."""


def unmirror(points, width: int) -> np.ndarray:
    """Points (n, 5, 2) found on images mirrored left to right, mapped back to the unmirrored
    images of ``width`` pixels (pixel centres at integers) and put back in RAF-DB order."""
    points = np.asarray(points, np.float64)[:, MIRROR_ORDER].copy()
    points[..., 0] = np.asarray(width).reshape(-1, 1) - 1 - points[..., 0]
    return points


def mirrored_mtcnn_points(images, plain=None):
    """MTCNN's five points averaged over each image and its mirror image (mapped back): a
    detector's points on a face and on its mirror should be mirror images, and what is not is
    the detector's own left–right bias, which the average removes. Where MTCNN finds the face
    in only one of the two, that one's points; NaN where in neither. ``plain``: the points
    :func:`mtcnn_points` already found on ``images``, if at hand."""
    plain = mtcnn_points(images) if plain is None else plain
    widths = np.array([np.asarray(image).shape[1] for image in images])
    mirrored = unmirror(mtcnn_points([np.asarray(image)[:, ::-1] for image in images]), widths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # all-NaN rows: no face in either
        return np.nanmean(np.stack([plain, mirrored]), axis=0)


def mtcnn_repeatability(images, trials: int = 8, seed: int = 0, shift: int = 4, scale: float = 0.08,
                        iod: float | None = None) -> np.ndarray:
    """How far MTCNN's own points move when the same face is moved a few pixels: its noise floor.

    Each image is rescaled by a random factor in ``1 ± scale`` and shifted by up to ``shift``
    whole pixels (``trials`` times; edges repeated), MTCNN runs on each copy and its points are
    mapped back. Returns, per image, the mean distance of the copies' points to their mean, in
    inter-ocular distances of that mean (NaN where fewer than two copies have a face). With
    ``iod`` (pixels), each image is first resized so that MTCNN's eyes are ``iod`` apart, to
    compare faces at one size (the world's originals have :data:`RAW_IOD`).
    """
    rng = np.random.default_rng(seed)
    out = np.full(len(images), np.nan)
    for i, image in enumerate(images):
        image = np.asarray(image)
        if iod is not None:
            first = mtcnn_points([image])[0]
            if not np.isfinite(first).all():
                continue
            image = _resized(image, iod / np.linalg.norm(first[1] - first[0]))[0]
        copies = []
        for _ in range(trials):
            resized, factor = _resized(image, rng.uniform(1 - scale, 1 + scale))
            dx, dy = rng.integers(-shift, shift + 1, 2)
            moved = np.roll(np.pad(resized, [(shift, shift), (shift, shift)] + [(0, 0)] * (image.ndim - 2),
                                   mode="edge"), (dy, dx), axis=(0, 1))
            found = mtcnn_points([moved])[0]
            if np.isfinite(found).all():
                copies.append((found - [dx + shift, dy + shift] + 0.5) / factor - 0.5)
        if len(copies) >= 2:
            copies = np.array(copies)
            centre = copies.mean(0)
            out[i] = np.linalg.norm(copies - centre, axis=2).mean() / np.linalg.norm(centre[1] - centre[0])
    return out


def _resized(image, factor: float):
    """``image`` resized by about ``factor`` (bilinear) and the exact (x, y) factors applied."""
    from PIL import Image

    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)), np.array([size[0] / w, size[1] / h])


def mtcnn_agreement(domain: str, n: int = 100, seed: int = 0, color: bool | None = None,
                    lab_factors=()) -> dict:
    """MTCNN on ``n`` unaligned faces of ``domain`` (all seven basic classes in turn), in colour
    as the world writes wild faces (RAF-DB, AffectNet) unless ``color`` says otherwise, with
    ``lab_factors`` drawn as in the lab (:func:`expression_faces`).

    Returns ``detected`` (fraction of faces with a detection whose eyes fall within one
    inter-ocular distance of the true ones), ``detected_ci`` (its Wilson 95% interval), ``error``
    (mean distance of the five points to the generator's, in true inter-ocular distances, over
    detected faces), ``median`` (the median
    over detected faces of each face's mean distance), ``far`` (fraction of detected faces whose
    mean distance exceeds :data:`FAR_LANDMARKS`: MTCNN placed the whole face elsewhere),
    ``frontal_error`` (the mean distance over detected faces turned at most :data:`FRONTAL_YAW`
    degrees; MTCNN's points drift on turned heads), ``mirror_error`` (the mean distance over the
    same faces of :func:`mirrored_mtcnn_points`: without MTCNN's own left–right bias),
    ``class_error`` (the mean distance over each basic class's detected faces: MTCNN's
    points move with the expression), ``point_error`` (5,) per point, ``offset``
    (5, 2) mean signed offset (x right, y down) in inter-ocular distances, ``turn_drift`` (5,)
    each point's :func:`turn_drift`, and ``n``.
    """
    emotions = [BASIC7[i % len(BASIC7)] for i in range(n)]
    color = domain != "lab" if color is None else color
    faces, _, nuisance = expression_faces(emotions, domain, seed=seed, raw=True, color=color,
                                          lab_factors=lab_factors)
    found = mtcnn_points(faces.raw)
    truth = faces.raw_landmarks5.astype(np.float64)
    iod = np.linalg.norm(truth[:, 1] - truth[:, 0], axis=1)
    delta = (found - truth) / iod[:, None, None]
    distance = np.linalg.norm(delta, axis=2)
    with np.errstate(invalid="ignore"):
        detected = np.isfinite(distance).all(1) & (np.nan_to_num(distance[:, :2], nan=9).max(1) < 1)
    per_face = distance[detected].mean(1)
    interval = binomtest(int(detected.sum()), n).proportion_ci(0.95, method="wilson")
    error, median, far = ((per_face.mean(), np.median(per_face), (per_face > FAR_LANDMARKS).mean())
                          if detected.any() else (np.nan,) * 3)
    frontal = np.abs(nuisance.yaw[detected]) <= FRONTAL_YAW
    found_class = np.array(emotions)[detected]
    mirrored = mirrored_mtcnn_points([faces.raw[i] for i in np.flatnonzero(detected)], plain=found[detected])
    mirror_error = np.linalg.norm((mirrored - truth[detected]) / iod[detected, None, None], axis=2).mean()
    return {"n": n, "detected": float(detected.mean()), "detected_ci": (interval.low, interval.high),
            "error": float(error), "median": float(median),
            "far": float(far), "frontal_error": float(per_face[frontal].mean()) if frontal.any() else np.nan,
            "mirror_error": float(mirror_error) if detected.any() else np.nan,
            "class_error": {c: float(per_face[found_class == c].mean()) if (found_class == c).any() else np.nan
                            for c in BASIC7},
            "point_error": distance[detected].mean(0), "offset": delta[detected].mean(0),
            "turn_drift": turn_drift(delta[detected, :, 0], nuisance.yaw[detected])}


def turn_drift(offset_x, yaw) -> np.ndarray:
    """How a detector's points drift sideways as the head turns: the least-squares slope of
    each point's horizontal offset ``offset_x`` (faces, points; detector minus generator, in
    inter-ocular distances) on ``yaw`` (faces; degrees, > 0 turns the nose to the image's
    right), per 10° of yaw. Negative: the detector's point trails the generator's in the
    direction of the turn. NaN for fewer than three faces or no spread in yaw."""
    offset_x = np.asarray(offset_x, dtype=np.float64)
    yaw = np.asarray(yaw, dtype=np.float64)
    centred = yaw - yaw.mean() if len(yaw) >= 3 else np.zeros_like(yaw)
    spread = (centred ** 2).sum()
    if spread == 0:
        return np.full(offset_x.shape[1], np.nan)
    return 10 * (centred @ offset_x) / spread


def brow_and_lid_motion(ipd_mm: float = INTERPUPILLARY_MM) -> pd.DataFrame:
    """How high the drawn brows rise above the middle of the eye and how wide the eyes open, in mm
    of a face whose pupils are ``ipd_mm`` apart, beside the ranges real adults show
    (:data:`BROW_RAISE_MAX_MM`, :data:`EYE_OPENING_MM`).

    Rows: the brow raise of AU1+2 and of the fear prototype, and the eye opening at rest, with AU5
    and in the surprise prototype (intensity 1 on the world's scale), indexed by what is measured;
    columns ``key`` (a short name to record the row under), ``drawn (mm)``, ``real adults (mm)`` (a
    "low–high" text) and ``what the real range is``. Measured on the
    expression mesh (:meth:`~fercore.synth.mesh.FaceModel.expression_mesh`) of the mean face.
    """
    from fercore.synth.expressions import PROTOTYPES
    from fercore.synth.mesh import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS, load_face_model

    model = load_face_model()

    def mesh(aus: dict):
        row = np.zeros((1, len(AUS)), np.float32)
        for au, value in aus.items():
            row[0, AUS.index(au)] = value
        return model.expression_mesh(row)[0].astype(np.float64)

    rest = mesh({})
    mm = ipd_mm / np.linalg.norm(rest[list(RIGHT_EYE_CORNERS)].mean(0) - rest[list(LEFT_EYE_CORNERS)].mean(0))

    def brow_rise(v):
        return (v[list(MID_BROW), 1] - rest[list(MID_BROW), 1]).mean() * mm

    def opening(v):
        return (v[list(UPPER_LID_MIDDLE), 1] - v[list(LOWER_LID_MIDDLE), 1]).mean() * mm

    brow_real = ("%.1f–%.1f" % BROW_RAISE_MAX_MM, "the most an adult can raise the brow")
    (rest_low, rest_high), (wide_low, wide_high) = EYE_OPENING_MM.values()
    rest_real = (f"{rest_low:g}–{rest_high:g}", "at rest")
    wide_real = (f"{rest_low:g}–{rest_high:g} / {wide_low:g}–{wide_high:g}", " / ".join(EYE_OPENING_MM))
    rows = [("brow_raise", "brow raise, AU1+2 at 1 (surprise prototype)", brow_rise(mesh({1: 1, 2: 1})), *brow_real),
            ("fear_brow_raise", "brow raise, fear prototype", brow_rise(mesh(PROTOTYPES["fear"])), *brow_real),
            ("eye_opening", "eye opening at rest", opening(rest), *rest_real),
            ("au5_eye_opening", "eye opening, AU5 at 1", opening(mesh({5: 1})), *wide_real),
            ("surprise_eye_opening", "eye opening, surprise prototype", opening(mesh(PROTOTYPES["surprise"])),
             *wide_real)]
    return pd.DataFrame(rows, columns=["key", "measure", "drawn (mm)", "real adults (mm)",
                                       "what the real range is"]).set_index("measure")
