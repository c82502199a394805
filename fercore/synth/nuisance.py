"""Nuisance factors of a face image: head pose, light, background, occluders, image quality.

:func:`sample_nuisance` draws them per domain — ``lab`` (posed databases such as CK+ and
JAFFE: frontal, even light, plain background, no occluders, clean images), ``film`` (SFEW-like
movie frames: moderate pose, directed light, some clutter and accessories) and ``wild``
(RAF-DB, AffectNet, FER2013: broad pose and light, clutter, glasses, hands and hats, blur,
noise, JPEG compression, low resolution). The image-space factors are applied by
:func:`draw_background`, :func:`draw_occluder` and :func:`degrade`; blur, resolution loss and
noise are expressed at the scale of RAF-DB's aligned 100×100 faces and scaled with the face.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image
from scipy import ndimage

from fercore.synth.expressions import DOMAINS

OCCLUDERS = ("none", "glasses", "hand", "hat_band")
"""Occluder kinds, indexed by ``Nuisance.occluder``."""


@dataclass
class Nuisance:
    """Per-image nuisance arrays; index with ``nuisance[index_array]``.

    ``yaw``, ``pitch``, ``roll`` head pose in degrees (yaw > 0 turns the nose to the image's
    right, pitch > 0 lifts the chin, roll > 0 tilts clockwise); ``light`` (n, 3) unit vector
    towards the light in camera coordinates (x right, y down, z towards the camera);
    ``light_intensity`` and ``ambient`` Lambertian terms; ``background`` grey level in [0, 1];
    ``clutter`` background clutter amplitude in [0, 1]; ``occluder`` index into
    :data:`OCCLUDERS`; ``blur`` Gaussian sigma and ``noise`` sensor-noise sigma (grey levels of
    255) at the 100×100 aligned scale; ``jpeg_quality`` (0 = stored losslessly); ``low_res``
    down-sampling factor (1 = full resolution); ``raw_size``, ``raw_iod`` (pixels between the
    eyes) and ``raw_shift`` ((n, 2) in [-1, 1], face offset from the canvas centre) place the
    face in an unaligned original image; ``seed`` seeds the image's random textures.
    """

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    light: np.ndarray
    light_intensity: np.ndarray
    ambient: np.ndarray
    background: np.ndarray
    clutter: np.ndarray
    occluder: np.ndarray
    blur: np.ndarray
    noise: np.ndarray
    jpeg_quality: np.ndarray
    low_res: np.ndarray
    raw_size: np.ndarray
    raw_iod: np.ndarray
    raw_shift: np.ndarray
    seed: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw)

    def __getitem__(self, index) -> "Nuisance":
        return Nuisance(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


_SETTINGS = {
    # pose sd (yaw, pitch, roll) and clip; light azimuth sd, elevation range,
    # intensity range, ambient range; clutter range; occluder probabilities;
    # blur range; noise range; jpeg quality range (0 = none); max low-res factor
    "lab": dict(pose_sd=(2.5, 2.5, 2.0), pose_max=(8, 8, 6), azimuth=(0, 12),
                elevation=(10, 30), intensity=(0.62, 0.78), ambient=(0.32, 0.42),
                clutter=(0.0, 0.0), occluder_p=(1.0, 0.0, 0.0, 0.0), blur=(0.4, 0.7),
                noise=(0.5, 2.0), jpeg=(0, 0), low_res=1.0),
    "film": dict(pose_sd=(12, 8, 7), pose_max=(35, 25, 25), azimuth=(0, 35),
                 elevation=(-10, 50), intensity=(0.5, 0.9), ambient=(0.15, 0.4),
                 clutter=(0.15, 0.6), occluder_p=(0.88, 0.07, 0.02, 0.03), blur=(0.4, 1.5),
                 noise=(1.5, 6.0), jpeg=(60, 95), low_res=1.8),
    "wild": dict(pose_sd=(12, 9, 9), pose_max=(45, 30, 35), azimuth=(0, 45),
                 elevation=(-20, 60), intensity=(0.45, 1.0), ambient=(0.12, 0.45),
                 clutter=(0.2, 1.0), occluder_p=(0.82, 0.09, 0.05, 0.04), blur=(0.4, 1.6),
                 noise=(1.5, 7.0), jpeg=(40, 95), low_res=2.2),
}


def sample_nuisance(domain: str, n: int, rng: np.random.Generator) -> Nuisance:
    """Draw ``n`` images' nuisance factors for ``domain`` in ``("lab", "film", "wild")``."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n}")
    n = int(n)
    s = _SETTINGS[domain]
    pose = np.clip(rng.normal(0, s["pose_sd"], (n, 3)), -np.array(s["pose_max"]),
                   np.array(s["pose_max"]))
    azimuth = np.deg2rad(rng.normal(*s["azimuth"], n))
    elevation = np.deg2rad(rng.uniform(*s["elevation"], n))
    light = np.stack([np.sin(azimuth) * np.cos(elevation), -np.sin(elevation),
                      np.cos(azimuth) * np.cos(elevation)], axis=1)
    if domain == "lab":
        background = rng.uniform(0.35, 0.85, n)
    else:
        background = rng.uniform(0.1, 0.9, n)
    jpeg = np.zeros(n, np.int16) if s["jpeg"] == (0, 0) else \
        rng.integers(s["jpeg"][0], s["jpeg"][1] + 1, n).astype(np.int16)
    low_res = np.exp(rng.uniform(0, np.log(s["low_res"]), n)) if s["low_res"] > 1 else np.ones(n)
    blur = np.exp(rng.uniform(np.log(s["blur"][0]), np.log(s["blur"][1]), n))
    f32 = np.float32
    return Nuisance(
        yaw=pose[:, 0].astype(f32), pitch=pose[:, 1].astype(f32), roll=pose[:, 2].astype(f32),
        light=light.astype(f32), light_intensity=rng.uniform(*s["intensity"], n).astype(f32),
        ambient=rng.uniform(*s["ambient"], n).astype(f32), background=background.astype(f32),
        clutter=rng.uniform(*s["clutter"], n).astype(f32),
        occluder=rng.choice(len(OCCLUDERS), size=n, p=s["occluder_p"]).astype(np.int8),
        blur=blur.astype(f32), noise=rng.uniform(*s["noise"], n).astype(f32),
        jpeg_quality=jpeg, low_res=low_res.astype(f32),
        raw_size=rng.integers(160, 257, n).astype(np.int16),
        raw_iod=rng.uniform(40, 70, n).astype(f32),
        raw_shift=rng.uniform(-1, 1, (n, 2)).astype(f32),
        seed=rng.integers(0, 2**32, n, dtype=np.uint32),
    )


@functools.lru_cache(maxsize=64)
def _upsampler(n_in: int, n_out: int) -> np.ndarray:
    """Bilinear interpolation matrix (n_out, n_in) over the same extent."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.minimum(np.floor(pos).astype(int), max(n_in - 2, 0))
    frac = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    if n_in > 1:
        m[np.arange(n_out), lo + 1] += frac
    return m.astype(np.float32)


@functools.lru_cache(maxsize=64)
def pixel_grid(height: int, width: int):
    """Read-only pixel coordinate arrays ``(ys, xs)``, each (height, width) float32."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys.setflags(write=False)
    xs.setflags(write=False)
    return ys, xs


def face_frame(eyes, height: int, width: int):
    """Pixel coordinates (h, w) along the eye line and towards the mouth, from the eye
    midpoint, and the inter-ocular distance: the frame occluders and hair are drawn in."""
    ys, xs = pixel_grid(height, width)
    axis = eyes[1] - eyes[0]
    iod = float(np.hypot(*axis))
    ex = axis / iod
    cx, cy = eyes.mean(0)
    dx, dy = xs - np.float32(cx), ys - np.float32(cy)
    return dx * ex[0] + dy * ex[1], dy * ex[0] - dx * ex[1], iod


def smooth_noise(rng: np.random.Generator, shape, cells: int) -> np.ndarray:
    """Standard-normal noise on a ``cells``×``cells`` grid, bilinearly stretched to ``shape``."""
    h, w = shape
    grid = rng.standard_normal((cells, cells), dtype=np.float32)
    return _upsampler(cells, h) @ grid @ _upsampler(cells, w).T


def draw_background(level: float, clutter: float, shape, rng: np.random.Generator) -> np.ndarray:
    """A background (h, w) in [0, 1]: grey ``level`` plus ``clutter`` × (smooth blobs, texture,
    and a few straight-edged bands such as door frames and shelves)."""
    h, w = shape
    if clutter <= 0:
        return level + 0.02 * smooth_noise(rng, shape, 3)
    layers = 0.16 * smooth_noise(rng, shape, 4) + 0.08 * smooth_noise(rng, shape, 14)
    ys, xs = pixel_grid(h, w)
    angle = rng.uniform(0, np.pi, 3)
    offset = rng.uniform(-0.2, 1.2, 3) * max(h, w)
    width = rng.uniform(0.05, 0.6, 3) * max(h, w)
    contrast = rng.normal(0, 0.25, 3)
    for k in range(3):
        d = np.float32(np.cos(angle[k])) * xs + np.float32(np.sin(angle[k])) * ys - offset[k]
        layers += np.float32(contrast[k]) * ((d > 0) & (d < width[k]))
    return np.clip(level + clutter * layers, 0, 1)


def draw_occluder(image, kind: int, eyes, mouth, skin: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Paint occluder ``kind`` (index into :data:`OCCLUDERS`) onto ``image`` (h, w) in place.

    ``eyes`` (2, 2) image-left and image-right eye centres and ``mouth`` (2,) the mouth centre,
    in pixels; ``skin`` the albedo used for a hand. Glasses: two rims, a bridge and optionally
    tinted lenses; hand: a palm and fingers over the mouth, chin or a cheek; hat band: a band
    over the forehead, sometimes down to the brows.
    """
    if kind == 0:
        return image
    lx, ly, iod = face_frame(eyes, *image.shape)
    if OCCLUDERS[kind] == "glasses":
        rx, ry = rng.uniform(0.36, 0.46) * iod, rng.uniform(0.24, 0.34) * iod
        rim = rng.uniform(0.04, 0.08) * iod
        frame = rng.uniform(0.03, 0.25)
        tint = rng.uniform(0.15, 0.5) if rng.random() < 0.2 else rng.uniform(0.85, 1.0)
        drop = rng.uniform(0.0, 0.08) * iod
        for side in (-0.5, 0.5):
            r = np.sqrt(((lx - side * iod) / rx) ** 2 + ((ly - drop) / ry) ** 2)
            image[r < 1] *= tint
            image[(r >= 1) & (r < 1 + rim / ry)] = frame
        bridge = (np.abs(lx) < 0.5 * iod - 0.8 * rx) & (np.abs(ly + 0.05 * iod) < rim * 0.6)
        temple = (np.abs(lx) > 0.5 * iod + rx) & (np.abs(lx) < 1.2 * iod) & \
                 (np.abs(ly - drop + 0.1 * iod) < rim * 0.5)
        image[bridge | temple] = frame
    elif OCCLUDERS[kind] == "hand":
        tone = np.clip(skin * rng.uniform(0.85, 1.15), 0.05, 0.95)
        target = rng.choice(3)                          # mouth, chin, cheek
        axis = (eyes[1] - eyes[0]) / iod
        offset = mouth - eyes.mean(0)
        mouth_x = offset @ axis
        mouth_y = offset @ np.array([-axis[1], axis[0]])
        cx = mouth_x + (rng.uniform(-0.7, 0.7) if target == 2 else rng.normal(0, 0.15)) * iod
        cy = mouth_y + (0.35 if target == 1 else rng.normal(0, 0.15)) * iod
        angle = rng.uniform(-0.6, 0.6) + (np.pi / 2 if rng.random() < 0.5 else 0)
        ca, sa = np.cos(angle), np.sin(angle)
        px = (lx - cx) * ca + (ly - cy) * sa
        py = -(lx - cx) * sa + (ly - cy) * ca
        mask = (px / (0.45 * iod)) ** 2 + (py / (0.38 * iod)) ** 2 < 1
        for k, length in enumerate(rng.uniform(0.7, 0.95, 4)):
            fx = (k - 1.5) * 0.2 * iod
            mask |= (np.abs(px - fx) < 0.085 * iod) & (py < 0) & (py > -length * iod)
        shading = 0.85 + 0.25 * np.clip(-py / iod, -1, 1)
        image[mask] = (tone * shading)[mask]
    elif OCCLUDERS[kind] == "hat_band":
        top = -rng.uniform(0.15, 0.75) * iod
        brim = rng.uniform(0.1, 0.3) * iod
        tone = rng.uniform(0.05, 0.7)
        band = ly < top
        image[band] = tone * (0.9 + 0.1 * np.sin(lx[band] / max(brim, 1) * 3))
        image[band & (ly > top - brim)] *= 0.7
    return image


def degrade(image, blur: float, low_res: float, noise: float, jpeg_quality: int,
            scale: float, rng: np.random.Generator) -> np.ndarray:
    """Camera and storage degradations of ``image`` (h, w) in [0, 1] → uint8.

    Gaussian blur (sigma ``blur`` × ``scale``), resolution loss (area down-sampling by
    ``low_res`` and bilinear up-sampling), zero-mean uniform sensor noise of standard
    deviation ``noise`` grey levels (of 255) and a JPEG round trip at ``jpeg_quality``
    (skipped at 0). ``scale`` is the face size relative to RAF-DB's aligned 100×100 crop.
    """
    h, w = image.shape
    image = image.astype(np.float32, copy=False)
    if blur * scale > 0.05:
        image = ndimage.gaussian_filter(image, blur * scale, mode="nearest", truncate=3.0)
    if low_res > 1.05:
        small = (max(4, round(w / low_res)), max(4, round(h / low_res)))
        image = Image.fromarray(image).resize(small, Image.BOX)
        image = np.asarray(image.resize((w, h), Image.BILINEAR))
    spread = np.float32(noise * np.sqrt(12.0))
    uniform = rng.random((h, w), dtype=np.float32) - np.float32(0.5)
    image = image * np.float32(255) + uniform * spread
    out = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if jpeg_quality > 0:
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=int(jpeg_quality))
        out = np.asarray(Image.open(buffer).convert("L"))
    return out
