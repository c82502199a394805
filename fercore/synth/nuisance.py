"""Nuisance factors of a face image: head pose, light, background, occluders, image quality.

:func:`sample_nuisance` draws them per domain — ``lab`` (posed databases such as CK+ and
JAFFE: frontal, even light, plain background, no occluders, clean images), ``film`` (SFEW-like
movie frames: moderate pose, directed light, some clutter and accessories) and ``wild``
(RAF-DB, AffectNet, FER2013: broad pose and light, clutter, glasses, hands and hats, blur,
noise, JPEG compression, low resolution); film and wild light is metered as a camera meters it
(:func:`expose`). The image-space factors are applied by
:func:`draw_background`, :func:`draw_occluder` and :func:`degrade`; blur, resolution loss and
noise are expressed at the scale of RAF-DB's aligned 100×100 faces and scaled with the face.
Each draws a small parameter vector from the image's generator here and leaves the pixel work
to a numba kernel of :mod:`fercore.synth.kernels`, which the renderer runs for a whole batch.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image

from fercore.synth import kernels
from fercore.synth.expressions import DOMAINS

EXPOSURE = 0.85
"""Shade of a surface facing the camera in a metered photograph (lab light gives 0.9–1.1; a
metered scene keeps a light face below white)."""
MAX_GAZE = 20.0
"""Largest eye rotation (degrees) :func:`sample_nuisance` draws, each way."""
MAX_EXPOSURE = 2.5
"""Largest gain a camera's metering applies to the drawn light (about 1.3 stops)."""
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
    face in an unaligned original image; ``seed`` seeds the image's random textures; ``gaze``
    (n, 2) where the eyes look, in degrees of eye rotation (to the image's right, down), on top of
    what the expression does to them (:func:`fercore.synth.render.eye_gaze`).
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
    gaze: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw)

    def __getitem__(self, index) -> "Nuisance":
        return Nuisance(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


_SETTINGS = {
    # The wild yaw spread is broad because in-the-wild collections are full of turned heads:
    # Wang et al. (Region Attention Networks, IEEE TIP 2020) found over a thousand of RAF-DB's
    # 3,068 test faces with head pose beyond 30° (their Pose-RAF-DB set); here about 17% of wild
    # faces are turned beyond 30° in yaw. The mesh has no ears or back of the head: yaw stops at 45°.
    # pose sd (yaw, pitch, roll) and clip; light azimuth sd, elevation range,
    # intensity range, ambient range; clutter range; occluder probabilities;
    # blur range; noise range; jpeg quality range (0 = none); max low-res factor;
    # sd of the log exposure error (0: the drawn light as it is, a lab's fixed set-up; see expose);
    # gaze sd (right, down) in degrees: posed subjects look into the camera, people in photographs
    # and films near it; framing: how far (share of the room) the face may stray from the centre of
    # its unaligned original: a lab subject sits centred before a fixed camera with the whole head
    # in the frame (CK+, JAFFE), a photograph or a film frame cuts faces anywhere
    "lab": dict(pose_sd=(2.5, 2.5, 2.0), pose_max=(8, 8, 6), azimuth=(0, 12),
                elevation=(10, 30), intensity=(0.62, 0.78), ambient=(0.32, 0.42),
                clutter=(0.0, 0.0), occluder_p=(1.0, 0.0, 0.0, 0.0), blur=(0.4, 0.7),
                noise=(0.5, 2.0), jpeg=(0, 0), low_res=1.0, exposure_sd=0.0, gaze_sd=(0, 0), framing=0.3),
    "film": dict(pose_sd=(12, 8, 7), pose_max=(35, 25, 25), azimuth=(0, 35),
                 elevation=(-10, 50), intensity=(0.5, 0.9), ambient=(0.15, 0.4),
                 clutter=(0.15, 0.6), occluder_p=(0.88, 0.07, 0.02, 0.03), blur=(0.4, 1.5),
                 noise=(1.5, 6.0), jpeg=(60, 95), low_res=1.8, exposure_sd=0.2, gaze_sd=(6, 5), framing=1.0),
    "wild": dict(pose_sd=(22, 12, 10), pose_max=(45, 30, 35), azimuth=(0, 45),
                 elevation=(-20, 60), intensity=(0.45, 1.0), ambient=(0.12, 0.45),
                 clutter=(0.2, 1.0), occluder_p=(0.82, 0.09, 0.05, 0.04), blur=(0.4, 1.6),
                 noise=(1.5, 7.0), jpeg=(40, 95), low_res=2.2, exposure_sd=0.25, gaze_sd=(6, 5), framing=1.0),
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
    nuisance = Nuisance(
        yaw=pose[:, 0].astype(f32), pitch=pose[:, 1].astype(f32), roll=pose[:, 2].astype(f32),
        light=light.astype(f32), light_intensity=rng.uniform(*s["intensity"], n).astype(f32),
        ambient=rng.uniform(*s["ambient"], n).astype(f32), background=background.astype(f32),
        clutter=rng.uniform(*s["clutter"], n).astype(f32),
        occluder=rng.choice(len(OCCLUDERS), size=n, p=s["occluder_p"]).astype(np.int8),
        blur=blur.astype(f32), noise=rng.uniform(*s["noise"], n).astype(f32),
        jpeg_quality=jpeg, low_res=low_res.astype(f32),
        raw_size=rng.integers(160, 257, n).astype(np.int16),
        raw_iod=rng.uniform(40, 70, n).astype(f32),
        raw_shift=(rng.uniform(-1, 1, (n, 2)) * s["framing"]).astype(f32),
        seed=rng.integers(0, 2**32, n, dtype=np.uint32), gaze=np.zeros((n, 2), f32),
    )
    if s["exposure_sd"]:
        expose(nuisance, rng.lognormal(0.0, s["exposure_sd"], n))
    nuisance.gaze = np.clip(rng.normal(0, s["gaze_sd"], (n, 2)), -MAX_GAZE, MAX_GAZE).astype(f32)
    return nuisance


def expose(nuisance: Nuisance, error) -> None:
    """Scale each image's light (ambient and directed alike, so shadows keep their contrast) so
    that a surface facing the camera is lit as in the lab (:data:`EXPOSURE`) times ``error``
    (n,), the camera's exposure error. A camera meters its scene: a face lit from the side or
    under weak light is photographed brighter than its light alone would make it, not black.
    Exposure is clipped to :data:`MAX_EXPOSURE` times the drawn light."""
    frontal = nuisance.ambient + nuisance.light_intensity * np.maximum(nuisance.light[:, 2], 0)
    gain = np.minimum(EXPOSURE * np.asarray(error) / frontal, MAX_EXPOSURE).astype(np.float32)
    nuisance.ambient = nuisance.ambient * gain
    nuisance.light_intensity = nuisance.light_intensity * gain


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


def smooth_noise(rng: np.random.Generator, shape, cells: int) -> np.ndarray:
    """Standard-normal noise on a ``cells``×``cells`` grid, bilinearly stretched to ``shape``."""
    h, w = shape
    grid = rng.standard_normal((cells, cells), dtype=np.float32)
    return _upsampler(cells, h) @ grid @ _upsampler(cells, w).T


# ---------------------------------------------------------------- per-image parameters

BACKGROUND_PARAMS = 229
"""Length of a background parameter vector: level, clutter, a 4×4 (or 3×3) and a 14×14 noise
grid, then cosine, sine, offset, width and contrast of three straight-edged bands."""
OCCLUDER_PARAMS = 9
"""Length of an occluder parameter vector (the largest, a hand's: tone, centre, rotation, four
finger lengths)."""


def background_params(level: float, clutter: float, shape, rng: np.random.Generator) -> np.ndarray:
    """Parameters (:data:`BACKGROUND_PARAMS`,) of a background of ``shape`` (h, w): grey
    ``level``; with ``clutter`` > 0, smooth blobs, texture and three bands of random angle,
    offset, width and contrast (door frames, shelves), scaled by ``clutter``."""
    p = np.zeros(BACKGROUND_PARAMS)
    p[0], p[1] = level, clutter
    if clutter <= 0:
        p[2:11] = rng.standard_normal((3, 3), dtype=np.float32).ravel()
        return p
    p[2:18] = rng.standard_normal((4, 4), dtype=np.float32).ravel()
    p[18:214] = rng.standard_normal((14, 14), dtype=np.float32).ravel()
    side = max(shape)
    angle = rng.uniform(0, np.pi, 3)
    p[214:217], p[217:220] = np.cos(angle), np.sin(angle)
    p[220:223] = rng.uniform(-0.2, 1.2, 3) * side
    p[223:226] = rng.uniform(0.05, 0.6, 3) * side
    p[226:229] = rng.normal(0, 0.25, 3)
    return p


def draw_background(level: float, clutter: float, shape, rng: np.random.Generator) -> np.ndarray:
    """A background (h, w) float32 around grey ``level``: plain with a faint shading, or with
    ``clutter`` × (smooth blobs, texture, straight-edged bands), clipped to [0, 1]."""
    image = np.empty(shape, np.float32)
    kernels.paint_background(image, background_params(level, clutter, shape, rng),
                             np.full(shape, -1, np.int32))
    return image


def face_frames(eyes) -> np.ndarray:
    """Per image (n, 5): eye midpoint (x, y), unit vector along the eye line (image-left to
    image-right eye) and inter-ocular distance, from ``eyes`` (n, 2, 2) in pixels: the frame
    occluders and hair are drawn in (x along the eyes, y towards the mouth)."""
    eyes = np.asarray(eyes, dtype=np.float64)
    axis = eyes[:, 1] - eyes[:, 0]
    iod = np.hypot(axis[:, 0], axis[:, 1])
    return np.column_stack([eyes.mean(1), axis / iod[:, None], iod])


def occluder_params(kind: int, frame, mouth, skin: float, rng: np.random.Generator) -> np.ndarray:
    """Parameters (:data:`OCCLUDER_PARAMS`,) of occluder ``kind`` (index into
    :data:`OCCLUDERS`) for a face with frame ``frame`` (:func:`face_frames` row), mouth centre
    ``mouth`` (2,) in pixels and skin albedo ``skin`` (a hand's tone). Glasses: two rims, a
    bridge, temples and lenses, sometimes tinted; hand: a palm and four fingers over the mouth,
    the chin or a cheek; hat band: a band over the forehead, sometimes down to the brows."""
    q = np.zeros(OCCLUDER_PARAMS)
    iod = frame[4]
    name = OCCLUDERS[kind]
    if name == "glasses":
        rx, ry = rng.uniform(0.36, 0.46) * iod, rng.uniform(0.24, 0.34) * iod
        rim = rng.uniform(0.04, 0.08) * iod
        shade = rng.uniform(0.03, 0.25)
        tint = rng.uniform(0.15, 0.5) if rng.random() < 0.2 else rng.uniform(0.85, 1.0)
        q[:6] = rx, ry, rim, shade, tint, rng.uniform(0.0, 0.08) * iod
    elif name == "hand":
        tone = min(max(skin * rng.uniform(0.85, 1.15), 0.05), 0.95)
        target = rng.choice(3)                          # mouth, chin, cheek
        mouth_x, mouth_y = kernels.frame_coordinates(frame, mouth[1], mouth[0])
        cx = mouth_x + (rng.uniform(-0.7, 0.7) if target == 2 else rng.normal(0, 0.15)) * iod
        cy = mouth_y + (0.35 if target == 1 else rng.normal(0, 0.15)) * iod
        angle = rng.uniform(-0.6, 0.6) + (np.pi / 2 if rng.random() < 0.5 else 0)
        q[:5] = tone, cx, cy, np.cos(angle), np.sin(angle)
        q[5:9] = rng.uniform(0.7, 0.95, 4) * iod
    elif name == "hat_band":
        top = -rng.uniform(0.15, 0.75) * iod
        q[:3] = top, rng.uniform(0.1, 0.3) * iod, rng.uniform(0.05, 0.7)
    return q


def draw_occluder(image, kind: int, eyes, mouth, skin: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Paint occluder ``kind`` (index into :data:`OCCLUDERS`) onto float32 ``image`` (h, w) in
    place; ``eyes`` (2, 2) image-left and image-right eye centres and ``mouth`` (2,) the mouth
    centre in pixels, ``skin`` the albedo of a hand (see :func:`occluder_params`)."""
    if kind == 0:
        return image
    frame = face_frames(np.asarray(eyes)[None])[0]
    kernels.paint_occluder(image, int(kind), occluder_params(kind, frame, mouth, skin, rng), frame)
    return image


# ---------------------------------------------------------------- degradations


def degrade_params(blur: float, low_res: float, scale: float, shape):
    """Gaussian sigma in pixels (0: none) and reduced (width, height) ((0, 0): full resolution)
    of an image of ``shape`` (h, w), for :func:`degrade`."""
    h, w = shape
    sigma = blur * scale if blur * scale > 0.05 else 0.0
    if low_res > 1.05:
        return sigma, (max(4, round(w / low_res)), max(4, round(h / low_res)))
    return sigma, (0, 0)


def noise_field(noise: float, shape, rng: np.random.Generator):
    """Zero-mean uniform sensor noise: unit-range samples (h, w) float32 and their scale, so
    that the noise has standard deviation ``noise`` grey levels (of 255)."""
    uniform = rng.random(shape, dtype=np.float32) - np.float32(0.5)
    return uniform, np.float32(noise * np.sqrt(12.0))


def jpeg_round_trip(image, quality: int) -> np.ndarray:
    """``image`` (h, w) or (h, w, 3) uint8 stored as a JPEG of ``quality`` and read back
    (0: unchanged)."""
    if quality <= 0:
        return image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("L" if image.ndim == 2 else "RGB"))


def degrade(image, blur: float, low_res: float, noise: float, jpeg_quality: int,
            scale: float, rng: np.random.Generator) -> np.ndarray:
    """Camera and storage degradations of ``image`` (h, w) in [0, 1] → uint8.

    Gaussian blur (sigma ``blur`` × ``scale``, as ``scipy.ndimage.gaussian_filter`` with
    truncate 3 and mode "nearest"), resolution loss (Pillow's area down-sampling by ``low_res``
    and bilinear up-sampling), zero-mean uniform sensor noise of standard deviation ``noise``
    grey levels (of 255) and a JPEG round trip at ``jpeg_quality`` (skipped at 0). ``scale``
    is the face size relative to RAF-DB's aligned 100×100 crop.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    sigma, (small_w, small_h) = degrade_params(blur, low_res, scale, image.shape)
    uniform, spread = noise_field(noise, image.shape, rng)
    out = np.empty(image.shape, np.uint8)
    kernels.degrade_image(image, sigma, small_w, small_h, uniform, spread, out)
    return jpeg_round_trip(out, jpeg_quality)
