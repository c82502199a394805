"""The face generator's numba kernels: rasterization, shading, background, occluders, degradations.

Everything here is compiled once per machine (``cache=True``) and releases the GIL
(``nogil=True``), so several threads render at once. All kernels live in this one module on
purpose: numba invalidates a cached kernel when its own source file changes, not when a kernel
it calls in another file does, so kernels that call each other must share a file. The
parameter vectors they read are drawn, and documented, in :mod:`fercore.synth.nuisance`
(background, occluder, degradation) and :mod:`fercore.synth.render` (faces).
"""

import numba
import numpy as np

SCLERA = 0.62
"""Albedo of the white of the eye (shaded: it sits in the eye socket)."""
LASH = 0.75
"""Darkening of the lash lines along the lid margins."""
TONGUE = 0.3
"""Albedo of the tongue, seen in the lower part of an open mouth (darker towards the throat)."""
BACKGROUND, HAIR, SKIN, LIPS, BROWS, IRIS, WHITE, MOUTH, OCCLUDER, CLOTHES = range(10)
NECK = 1.1
"""Length of the neck from the mouth to the shoulder line, in inter-ocular distances."""
SHOULDER_SLOPE = 2.5
"""How fast the shoulders widen below the neck (sideways per downwards)."""
SHOULDERS = 2.6
"""Half the shoulders' width, in inter-ocular distances (about 17 cm against the eyes' 6.3)."""
MATERIALS = ("background", "hair", "skin", "lips", "brows", "iris", "white", "mouth", "occluder", "clothes")
"""What a pixel shows, as :func:`draw_faces` records it (white: sclera and teeth)."""

# ---------------------------------------------------------------- background and occluders


@numba.njit(cache=True, nogil=True)
def _add_smooth(image, p, start, cells, weight, coverage):
    """Add ``weight`` × the ``cells``×``cells`` grid at ``p[start:]`` stretched bilinearly over
    ``image`` where ``coverage`` < 0 (the interpolation of
    :func:`fercore.synth.nuisance.smooth_noise`)."""
    h, w = image.shape
    last = max(cells - 2, 0)
    column = np.empty(w, np.int64)
    fx = np.empty(w)
    for x in range(w):
        pos = min(max((x + 0.5) * cells / w - 0.5, 0.0), cells - 1.0)
        column[x] = min(int(np.floor(pos)), last)
        fx[x] = pos - column[x]
    for y in range(h):
        pos = min(max((y + 0.5) * cells / h - 0.5, 0.0), cells - 1.0)
        row = min(int(np.floor(pos)), last)
        fy = pos - row
        top = p[start + row * cells:start + (row + 1) * cells]
        bottom = p[start + (row + 1) * cells:start + (row + 2) * cells]
        for x in range(w):
            if coverage[y, x] < 0:
                c, f = column[x], fx[x]
                value = (1 - fy) * ((1 - f) * top[c] + f * top[c + 1]) + \
                    fy * ((1 - f) * bottom[c] + f * bottom[c + 1])
                image[y, x] += weight * value


@numba.njit(cache=True, nogil=True)
def paint_background(image, p, coverage):
    """Paint the background of parameters ``p``
    (:func:`fercore.synth.nuisance.background_params`) into ``image`` (h, w) where ``coverage``
    (h, w) is negative (the pixels no face covers)."""
    h, w = image.shape
    level, clutter = p[0], p[1]
    for y in range(h):
        for x in range(w):
            if coverage[y, x] < 0:
                image[y, x] = 0
    if clutter <= 0:
        _add_smooth(image, p, 2, 3, 0.02, coverage)
        for y in range(h):
            for x in range(w):
                if coverage[y, x] < 0:
                    image[y, x] += level
        return
    _add_smooth(image, p, 2, 4, 0.16, coverage)
    _add_smooth(image, p, 18, 14, 0.08, coverage)
    for y in range(h):
        for x in range(w):
            if coverage[y, x] < 0:
                layers = image[y, x]
                for k in range(3):
                    d = p[214 + k] * x + p[217 + k] * y - p[220 + k]
                    if d > 0 and d < p[223 + k]:
                        layers += p[226 + k]
                image[y, x] = min(max(level + clutter * layers, 0.0), 1.0)


@numba.njit(cache=True, nogil=True, inline="always")
def frame_coordinates(frame, y, x):
    """Pixel (y, x) in the face frame ``frame`` (:func:`fercore.synth.nuisance.face_frames`):
    along the eye line and towards the mouth, from the eye midpoint."""
    dx, dy = x - frame[0], y - frame[1]
    return dx * frame[2] + dy * frame[3], dy * frame[2] - dx * frame[3]


@numba.njit(cache=True, nogil=True, inline="always")
def occlude(value, kind, q, frame, y, x):
    """Grey level at pixel (y, x) after occluder ``kind`` with parameters ``q``
    (:func:`fercore.synth.nuisance.occluder_params`) is placed over a face of frame ``frame``;
    ``value`` below it."""
    if kind == 0:
        return value
    lx, ly = frame_coordinates(frame, y, x)
    iod = frame[4]
    if kind == 1:                                       # glasses
        rx, ry, rim, shade, tint, drop = q[0], q[1], q[2], q[3], q[4], q[5]
        for side in (-0.5, 0.5):
            r = np.sqrt(((lx - side * iod) / rx) ** 2 + ((ly - drop) / ry) ** 2)
            if r < 1:
                value *= tint
            elif r < 1 + rim / ry:
                value = shade
        bridge = abs(lx) < 0.5 * iod - 0.8 * rx and abs(ly + 0.05 * iod) < rim * 0.6
        temple = abs(lx) > 0.5 * iod + rx and abs(lx) < 1.2 * iod and \
            abs(ly - drop + 0.1 * iod) < rim * 0.5
        if bridge or temple:
            value = shade
    elif kind == 2:                                     # hand
        ca, sa = q[3], q[4]
        px = (lx - q[1]) * ca + (ly - q[2]) * sa
        py = -(lx - q[1]) * sa + (ly - q[2]) * ca
        inside = (px / (0.45 * iod)) ** 2 + (py / (0.38 * iod)) ** 2 < 1
        for k in range(4):
            finger = (k - 1.5) * 0.2 * iod
            inside = inside or (abs(px - finger) < 0.085 * iod and py < 0 and py > -q[5 + k])
        if inside:
            value = q[0] * (0.85 + 0.25 * min(max(-py / iod, -1.0), 1.0))
    elif kind == 3:                                     # hat band
        top, brim = q[0], q[1]
        if ly < top:
            value = q[2] * (0.9 + 0.1 * np.sin(lx / max(brim, 1.0) * 3))
            if ly > top - brim:
                value *= 0.7
    return value


@numba.njit(cache=True, nogil=True)
def paint_occluder(image, kind, q, frame):
    """Paint occluder ``kind`` with parameters ``q`` onto ``image`` (see :func:`occlude`),
    visiting only the pixels within reach of glasses or a hand."""
    h, w = image.shape
    x0, y0, x1, y1 = 0, 0, w - 1, h - 1
    iod = frame[4]
    if kind == 1 or kind == 2:
        if kind == 1:       # rims, temples and bridge around (0, drop) in the face frame
            cx, cy, reach = 0.0, q[5], np.hypot(1.2 * iod, q[1] + q[2] + 0.1 * iod)
        else:               # palm and fingers around the hand's centre
            cx, cy, reach = q[1], q[2], 1.1 * iod
        px, py = frame[0] + cx * frame[2] - cy * frame[3], frame[1] + cx * frame[3] + cy * frame[2]
        x0, x1 = max(x0, int(px - reach) - 1), min(x1, int(px + reach) + 1)
        y0, y1 = max(y0, int(py - reach) - 1), min(y1, int(py + reach) + 1)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            image[y, x] = occlude(image[y, x], kind, q, frame, y, x)


# ---------------------------------------------------------------- degradations


@numba.njit(cache=True, nogil=True)
def _gaussian_columns(src, dst, sigma):
    """``scipy.ndimage.gaussian_filter1d`` along axis 0 (truncate 3, mode "nearest") of
    ``src`` into ``dst`` (both C-contiguous float32), summed in scipy's order, a whole row of
    outputs at a time."""
    h, w = src.shape
    radius = int(3.0 * sigma + 0.5)
    weights = np.empty(radius + 1)
    for j in range(radius + 1):
        weights[j] = np.exp(-0.5 / (sigma * sigma) * j * j)
    total = 0.0
    for j in range(-radius, radius + 1):
        total += weights[abs(j)]
    for j in range(radius + 1):
        weights[j] /= total
    acc = np.empty(w)
    for y in range(h):
        for x in range(w):
            acc[x] = np.float64(src[y, x]) * weights[0]
        for j in range(radius, 0, -1):
            above, below, weight = max(y - j, 0), min(y + j, h - 1), weights[j]
            for x in range(w):
                acc[x] += (np.float64(src[above, x]) + np.float64(src[below, x])) * weight
        for x in range(w):
            dst[y, x] = acc[x]


@numba.njit(cache=True, nogil=True)
def _transpose(src):
    """A C-contiguous float32 copy of the transpose of ``src``."""
    h, w = src.shape
    out = np.empty((w, h), np.float32)
    for y in range(h):
        for x in range(w):
            out[x, y] = src[y, x]
    return out


@numba.njit(cache=True, nogil=True)
def gaussian_blur(image, sigma):
    """``scipy.ndimage.gaussian_filter(image, sigma, mode="nearest", truncate=3)`` of a
    C-contiguous float32 image: axis 0, then axis 1 (as axis 0 of the transpose)."""
    h, w = image.shape
    rows = np.empty((h, w), np.float32)
    _gaussian_columns(image, rows, sigma)
    across = np.empty((w, h), np.float32)
    _gaussian_columns(_transpose(rows), across, sigma)
    return _transpose(across)


@numba.njit(cache=True, nogil=True)
def _resample_columns(src, n_out, bilinear):
    """Pillow's resampling (``Image.resize`` with BOX or BILINEAR, float32 images) along axis 0
    of C-contiguous ``src`` to ``n_out`` rows: each output row is the normalized
    filter-weighted sum of the input rows under the filter's support, stretched by the
    reduction factor."""
    n_in, w = src.shape
    scale = n_in / n_out
    filter_scale = max(scale, 1.0)
    support = (1.0 if bilinear else 0.5) * filter_scale
    out = np.empty((n_out, w), np.float32)
    weights = np.empty(int(np.ceil(support)) * 2 + 1)
    acc = np.empty(w)
    for o in range(n_out):
        centre = (o + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        count = min(int(centre + support + 0.5), n_in) - first
        total = 0.0
        for k in range(count):
            t = (k + first - centre + 0.5) * (1.0 / filter_scale)
            if bilinear:
                weight = max(1.0 - abs(t), 0.0)
            else:
                weight = 1.0 if -0.5 < t <= 0.5 else 0.0
            weights[k] = weight
            total += weight
        if total != 0.0:
            for k in range(count):
                weights[k] /= total
        for x in range(w):
            acc[x] = 0.0
        for k in range(count):
            row, weight = first + k, weights[k]
            for x in range(w):
                acc[x] += src[row, x] * weight
        for x in range(w):
            out[o, x] = acc[x]
    return out


@numba.njit(cache=True, nogil=True)
def resize(image, width, height, bilinear):
    """Pillow's ``Image.resize((width, height), BOX or BILINEAR)`` of a C-contiguous float32
    image: horizontal pass (as a vertical pass of the transpose), then vertical pass."""
    wide = _transpose(_resample_columns(_transpose(image), width, bilinear))
    return _resample_columns(wide, height, bilinear)


@numba.njit(cache=True, nogil=True)
def degrade_image(image, sigma, small_w, small_h, uniform, spread, out):
    """Blur (``sigma`` > 0), resolution loss (to ``small_w`` × ``small_h`` and back, when > 0),
    sensor noise (``uniform`` × ``spread``) and quantization of a C-contiguous float32 ``image``
    (h, w) in [0, 1] into uint8 ``out``. See :func:`fercore.synth.nuisance.degrade`."""
    h, w = image.shape
    if sigma > 0:
        image = gaussian_blur(image, sigma)
    if small_w > 0:
        image = resize(resize(image, small_w, small_h, False), w, h, True)
    for y in range(h):
        for x in range(w):
            value = np.rint(image[y, x] * np.float32(255) + uniform[y, x] * spread)
            out[y, x] = np.uint8(min(max(value, 0.0), 255.0))


@numba.njit(cache=True, nogil=True)
def colorize(gray, material, chroma, luma):
    """RGB (h, w, 3) uint8 with the luma of ``gray`` (h, w) uint8: each pixel's tint is the mean
    of its 3×3 neighbours' material ``chroma`` rows (edges repeated), scaled to unit ``luma``."""
    h, w = gray.shape
    out = np.empty((h, w, 3), np.uint8)
    tint = np.empty(3, np.float32)
    for y in range(h):
        for x in range(w):
            tint[:] = 0.0
            for dy in range(-1, 2):
                yy = min(max(y + dy, 0), h - 1)
                for dx in range(-1, 2):
                    row = chroma[material[yy, min(max(x + dx, 0), w - 1)]]
                    for c in range(3):
                        tint[c] += row[c]
            scale = np.float32(gray[y, x]) / (tint[0] * luma[0] + tint[1] * luma[1] + tint[2] * luma[2])
            for c in range(3):
                out[y, x, c] = np.uint8(min(max(np.rint(tint[c] * scale), 0.0), 255.0))
    return out


# ---------------------------------------------------------------- faces


@numba.njit(cache=True, nogil=True)
def vertex_shading(verts, triangles, light, ambient, intensity, out):
    """Lambertian shade per vertex: ambient + intensity · max(0, normal · light), the normal
    being the normalized sum of the area-weighted normals of the vertex's triangles."""
    normals = np.empty((verts.shape[1], 3))
    for f in range(verts.shape[0]):
        normals[:] = 0.0
        for t in range(triangles.shape[0]):
            a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
            ux, uy, uz = verts[f, c, 0] - verts[f, a, 0], verts[f, c, 1] - verts[f, a, 1], \
                verts[f, c, 2] - verts[f, a, 2]
            vx, vy, vz = verts[f, b, 0] - verts[f, a, 0], verts[f, b, 1] - verts[f, a, 1], \
                verts[f, b, 2] - verts[f, a, 2]
            nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
            for v in (a, b, c):
                normals[v, 0] += nx
                normals[v, 1] += ny
                normals[v, 2] += nz
        for v in range(verts.shape[1]):
            length = max(np.sqrt(normals[v, 0] ** 2 + normals[v, 1] ** 2 + normals[v, 2] ** 2),
                         1e-9)
            cosine = (normals[v, 0] * light[f, 0] + normals[v, 1] * light[f, 1]
                      + normals[v, 2] * light[f, 2]) / length
            out[f, v] = ambient[f] + intensity[f] * max(cosine, 0.0)


@numba.njit(cache=True, nogil=True)
def _narrow(slope, reciprocal, offset, lo, hi):
    """The part of [lo, hi] where ``slope·x + offset >= 0`` (``reciprocal`` = 1 / slope)."""
    if slope > 0:
        lo = max(lo, -offset * reciprocal)
    elif slope < 0:
        hi = min(hi, -offset * reciprocal)
    elif offset < 0:
        hi = lo - 1.0
    return lo, hi


@numba.njit(cache=True, nogil=True)
def raster_face(points, depth, triangles, two_sided, height, width, tri, bary, zbuf):
    """Scan-convert one mesh into the top-left (height, width) of ``tri``/``bary``/``zbuf``
    (nearest surface wins, the first drawn triangle on ties). Each row of a triangle visits
    only the span where its three edge functions can be non-negative (with a margin: the
    per-pixel test decides)."""
    for py in range(height):
        for px in range(width):
            tri[py, px] = -1
            zbuf[py, px] = -np.inf
    eps = 1e-4
    slack = eps + 1e-9
    for t in range(triangles.shape[0]):
        i0, i1, i2 = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        x0, y0 = points[i0, 0], points[i0, 1]
        x1, y1 = points[i1, 0], points[i1, 1]
        x2, y2 = points[i2, 0], points[i2, 1]
        det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if not (det < -1e-6 or (two_sided[t] and det > 1e-6)):
            continue
        xmin = max(int(np.ceil(min(x0, x1, x2))), 0)
        xmax = min(int(np.floor(max(x0, x1, x2))), width - 1)
        ymin = max(int(np.ceil(min(y0, y1, y2))), 0)
        ymax = min(int(np.floor(max(y0, y1, y2))), height - 1)
        if xmin > xmax:
            continue
        z0 = depth[i0]
        dz1, dz2 = depth[i1] - z0, depth[i2] - z0
        inv = 1.0 / det
        # the weights along a row: w1 = a1·x + b1(y), w2 = a2·x + b2(y), b linear in y
        a1, a2 = (y2 - y0) * inv, -(y1 - y0) * inv
        a3 = -a1 - a2
        r1 = 1.0 / a1 if a1 != 0 else 0.0
        r2 = 1.0 / a2 if a2 != 0 else 0.0
        r3 = 1.0 / a3 if a3 != 0 else 0.0
        c1, d1 = (-x0 * (y2 - y0) + (x2 - x0) * y0) * inv, -(x2 - x0) * inv
        c2, d2 = (x0 * (y1 - y0) - (x1 - x0) * y0) * inv, (x1 - x0) * inv
        for py in range(ymin, ymax + 1):
            b1, b2 = c1 + d1 * py, c2 + d2 * py
            lo, hi = _narrow(a1, r1, b1 + slack, float(xmin), float(xmax))
            lo, hi = _narrow(a2, r2, b2 + slack, lo, hi)
            lo, hi = _narrow(a3, r3, 1 + slack - b1 - b2, lo, hi)
            if hi < lo:
                continue
            for px in range(max(xmin, int(np.floor(lo)) - 1), min(xmax, int(np.ceil(hi)) + 1) + 1):
                w1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) * inv
                w2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) * inv
                if w1 >= -eps and w2 >= -eps and w1 + w2 <= 1 + eps:
                    z = z0 + w1 * dz1 + w2 * dz2
                    if z > zbuf[py, px]:
                        zbuf[py, px] = z
                        tri[py, px] = t
                        bary[py, px, 0] = w1
                        bary[py, px, 1] = w2


@numba.njit(cache=True, nogil=True)
def rasterize_batch(points, depth, triangles, two_sided, tri_out, bary_out):
    zbuf = np.empty(tri_out.shape[1:], np.float32)
    for f in range(points.shape[0]):
        raster_face(points[f], depth[f], triangles, two_sided, tri_out.shape[1],
                     tri_out.shape[2], tri_out[f], bary_out[f], zbuf)


@numba.njit(cache=True, nogil=True)
def draw_faces(sizes, points, depth, shade, triangles, two_sided, tri_class, uv, mouth_uv,
               textures, texture_index, tones, features, wrinkles, wrinkle_depth, irises,
               iris_radius, glint, open_fraction, frames, hair, backgrounds, occluders, occluder_q,
               sigma, small, uniforms, spread, out, material):
    """Draw and degrade each image ``f`` into the top-left ``sizes[f]`` square of uint8
    ``out[f]``.

    The rasterized face (:func:`raster_face`) in front of hair, neck, shoulders and background,
    with the occluder on top, clipped to [0, 1], then degraded by :func:`degrade_image` (``sigma``,
    ``small``, ``uniforms``, ``spread``: per image). Skin: shade × skin tone × (1 + texture + AU
    wrinkles) × feature darkening (brows with hair streaks, lips, lash lines, the shade of nostrils
    and eye sockets), looked up at the pixel's texture coordinates. Eyes: sclera, iris, pupil and a
    catch-light around the projected iris centre. Mouth opening: lips meeting at a seam where
    closed, teeth, the tongue (:data:`TONGUE`) and a dark interior where open (``open_fraction``
    (n, 3): the share of the lip gap that is open, the upper teeth's share of the opening, and
    their width as a share of the opening's half-width).
    ``tones`` (n, 4) holds each image's skin, brow, lip and iris albedo; ``hair`` (n, 8) its hair
    length and volume (pixels below / around the eye line), hair phase, mouth centre in the face
    frame, skin, hair and clothes albedo (a neck down from the mouth widens into shoulders,
    :data:`NECK`, :data:`SHOULDER_SLOPE`, :data:`SHOULDERS`). ``material`` (n, side, side) uint8
    receives what each pixel shows (:data:`MATERIALS`), from which the renderer colours the image.
    """
    height, width = out.shape[1], out.shape[2]
    tri = np.empty((height, width), np.int32)
    bary = np.empty((height, width, 2), np.float32)
    zbuf = np.empty((height, width), np.float32)
    canvas = np.empty(height * width, np.float32)
    tex = textures.shape[1]
    for f in range(out.shape[0]):
        size = sizes[f]
        raster_face(points[f], depth[f], triangles, two_sided, size, size, tri, bary, zbuf)
        image = canvas[:size * size].reshape((size, size))
        paint_background(image, backgrounds[f], tri)
        # this image's constants, held in locals (loads from the arrays could alias the image)
        texture = textures[texture_index[f]]
        skin_map, streaks = texture[:, :, 0], texture[:, :, 1]
        skin_tone, brow_tone, lip_tone, iris_tone = tones[f]
        depths = wrinkle_depth[f].copy()
        shading = shade[f]
        frame = frames[f]
        iod = frame[4]
        for py in range(size):
            for px in range(size):
                t = tri[py, px]
                kind = BACKGROUND
                if t < 0:
                    lx, ly = frame_coordinates(frame, py, px)
                    if (lx / hair[f, 1]) ** 2 + ((ly + 0.15 * iod) / (1.45 * iod)) ** 2 < 1 \
                            and ly < hair[f, 0]:
                        value = hair[f, 6] * (0.8 + 0.2 * np.cos(lx / iod * 9 + hair[f, 2]))
                        kind = HAIR
                    elif abs(lx - hair[f, 3]) < 0.62 * iod and ly > hair[f, 4]:
                        value = hair[f, 5] * 0.55
                        kind = SKIN
                    elif abs(lx - hair[f, 3]) < min(0.62 * iod + SHOULDER_SLOPE * (ly - hair[f, 4] - NECK * iod),
                                                    SHOULDERS * iod):
                        value = hair[f, 7] * (0.75 + 0.1 * np.cos((lx - hair[f, 3]) / iod * 2.5))
                        kind = CLOTHES
                    else:
                        value = image[py, px]
                else:
                    w1 = min(max(bary[py, px, 0], 0.0), 1.0)
                    w2 = min(max(bary[py, px, 1], 0.0), 1.0 - w1)
                    w0 = 1.0 - w1 - w2
                    a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
                    s = w0 * shading[a] + w1 * shading[b] + w2 * shading[c]
                    u = w0 * uv[a, 0] + w1 * uv[b, 0] + w2 * uv[c, 0]
                    v = w0 * uv[a, 1] + w1 * uv[b, 1] + w2 * uv[c, 1]
                    iu = min(max(int(u * tex), 0), tex - 1)
                    iv = min(max(int(v * tex), 0), tex - 1)
                    skin = skin_map[iv, iu]
                    for k in range(depths.size):
                        skin += depths[k] * wrinkles[iv, iu, k]
                    albedo = skin_tone * (1.0 + skin)
                    albedo *= 1.0 + features[iv, iu, 0] * (brow_tone * streaks[iv, iu] - 1.0)
                    albedo *= 1.0 + features[iv, iu, 1] * (lip_tone - 1.0)
                    albedo *= (1.0 - LASH * features[iv, iu, 2]) * (1.0 - features[iv, iu, 3])
                    value = s * albedo
                    kind = SKIN
                    if features[iv, iu, 1] > 0.5:
                        kind = LIPS
                    elif features[iv, iu, 0] > 0.5:
                        kind = BROWS
                    k = tri_class[t]
                    if k == 1 or k == 2:
                        r = iris_radius[f]
                        dx, dy = px - irises[f, k - 1, 0], py - irises[f, k - 1, 1]
                        d = np.sqrt(dx * dx + dy * dy) / r
                        if d < 0.42:
                            tone = 0.04
                            kind = IRIS
                        elif d < 1.0:
                            tone = iris_tone * (1.15 - 0.45 * d**4)
                            kind = IRIS
                        else:
                            tone = SCLERA
                            kind = WHITE
                        value = tone * (0.3 + 0.7 * s)
                        gx, gy = dx - glint[f, 0] * r, dy - glint[f, 1] * r
                        if gx * gx + gy * gy < (0.22 * r) ** 2:
                            value = 0.95
                    elif k == 3:
                        across = w0 * mouth_uv[a, 0] + w1 * mouth_uv[b, 0] + w2 * mouth_uv[c, 0]
                        down = w0 * mouth_uv[a, 1] + w1 * mouth_uv[b, 1] + w2 * mouth_uv[c, 1]
                        opening, teeth = open_fraction[f, 0], open_fraction[f, 1]
                        teeth_width = open_fraction[f, 2]
                        lip = (1.0 - opening) / 2
                        if down < lip or down > 1.0 - lip:
                            if opening < 0.05:
                                value *= 1.0 - 0.6 * np.exp(-(((down - 0.5) / 0.06) ** 2))
                        else:
                            inner = (down - lip) / max(opening, 1e-6)
                            kind = WHITE
                            if inner < teeth and across < teeth_width - 0.25 * inner / teeth:
                                tooth = 0.93 - 0.25 * across * across
                            elif inner > 0.86 and across < 0.6:
                                tooth = 0.6
                            elif inner > 0.5 and across < 0.8:
                                tooth = TONGUE * (0.6 + 0.4 * (inner - 0.5) / 0.5)
                                kind = MOUTH
                            else:
                                tooth = 0.05
                                kind = MOUTH
                            value = tooth * (0.3 + 0.6 * s)
                image[py, px] = value
                material[f, py, px] = kind
        if occluders[f] > 0:
            before = image.copy()
            paint_occluder(image, occluders[f], occluder_q[f], frame)
            tint = occluder_q[f, 4] if occluders[f] == 1 else -1.0   # glass lenses: see-through
            for py in range(size):
                for px in range(size):
                    if image[py, px] != before[py, px] and \
                            abs(image[py, px] - before[py, px] * tint) > 1e-6:
                        material[f, py, px] = OCCLUDER
        for py in range(size):
            for px in range(size):
                image[py, px] = min(max(image[py, px], 0.0), 1.0)
        degrade_image(image, sigma[f], small[f, 0], small[f, 1], uniforms[f, :size, :size],
                      spread[f], out[f, :size, :size])
