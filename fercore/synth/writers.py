"""One writer per synthetic dataset: sample faces, label them as the real dataset was labelled,
and write them in its format (the format code lives in :mod:`fercore.datasets`).

Each ``write_<name>(folder, sizes, seed)`` (``write_raf`` takes the RAF-DB and RAF-ML folders)
is deterministic in ``seed`` and returns a summary of what it wrote. Every dataset also gets
``truth.csv``: for each file the identity, domain, blend weights, true AU intensities, pose and
light, occluder, degradations, the true label and, where a label was given by a simulated
annotator, the given label and whether it differs (``flipped``).
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from fercore import crowd as crowd_em
from fercore import ground_truth
from fercore.datasets import affectnet, ckplus, emotionet, fer2013, jaffe, mmi_oulu, rafdb, rafml, sfew
from fercore.datasets.base import write_truth
from fercore.labels import AUS, BASIC7, COMPOUND11, COMPOUND_COMPONENTS, CONTEMPT, EMOTIONS6
from fercore.synth import crowd as crowd_sim
from fercore.synth.expressions import EXPRESSIONS, intensity, sample_aus
from fercore.synth.identity import sample_identities
from fercore.synth.nuisance import OCCLUDERS, sample_nuisance

AFFECTNET_COUNTS = {"neutral": 74874, "happiness": 134415, "sadness": 25459, "surprise": 14090, "fear": 6378,
                    "disgust": 3803, "anger": 24882, CONTEMPT: 3750}
"""AffectNet's manually annotated training images per class (Mollahosseini et al. 2017; the
totals less the 500-per-class validation set)."""
FER2013_COUNTS = {"anger": 4953, "disgust": 547, "fear": 5121, "happiness": 8989, "sadness": 6077,
                  "surprise": 4002, "neutral": 6198}
"""FER2013's images per class (35,887 in all)."""
CKPLUS_COUNTS = {"anger": 45, CONTEMPT: 18, "disgust": 59, "fear": 25, "happiness": 69, "sadness": 28, "surprise": 83}
"""CK+'s labelled sequences per emotion (327 in all; Lucey et al. 2010)."""
SFEW_SHARES = {"anger": 0.18, "disgust": 0.07, "fear": 0.11, "happiness": 0.19, "neutral": 0.16, "sadness": 0.17,
               "surprise": 0.12}
"""Approximate class shares of SFEW 2.0's labelled frames (disgust rarest)."""
JAFFE_SUBJECTS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")
VALENCE_AROUSAL = {"neutral": (0.0, 0.0), "happiness": (0.7, 0.3), "sadness": (-0.6, -0.2), "surprise": (0.2, 0.7),
                   "fear": (-0.5, 0.7), "disgust": (-0.6, 0.3), "anger": (-0.6, 0.6), CONTEMPT: (-0.4, 0.2)}
"""Typical (valence, arousal) per class in AffectNet's circumplex (a rough centre, not measured)."""
EMOTIONET_COMPOUND_SHARES = {"happily disgusted": 0.45, "sadly disgusted": 0.12, "happily surprised": 0.08,
                             "angrily surprised": 0.06, "angrily disgusted": 0.06, "fearfully angry": 0.05,
                             "fearfully surprised": 0.05, "sadly angry": 0.04, "sadly fearful": 0.03,
                             "sadly surprised": 0.03, "disgustedly surprised": 0.03}
"""Compound mixture of the emotion-labelled EmotioNet subset (happily disgusted dominates, SJMT Table 4)."""
AU_PRESENT = 0.25
"""An AU counts as present (EmotioNet 1, CK+ FACS coded) at or above this intensity."""
RAF_MEAN_DIFFICULTY = 0.45
"""Mean intrinsic difficulty of RAF faces; image quality adds up to 0.5 (:func:`nuisance_severity`)."""
RAW_CANVAS = (200, 256)
RAW_IOD = (36.0, 52.0)
"""Side and inter-ocular distance (pixels) of the unaligned originals the world writes: small
faces keep raw rendering fast, and the canvas leaves the head, hair and shoulders around the face
as a photograph does (on a canvas of 128–176 pixels, cropped at the brow and chin, MTCNN placed
its five points 0.063 inter-ocular distances from the generator's on lab faces and 0.127 on wild
ones; on this one, 0.054 and 0.101; with lab faces kept off the frame's edge, the nuisance's
``framing``, 0.047 on lab faces)."""


# ---------------------------------------------------------------- shared helpers


def blend_weights(names) -> np.ndarray:
    """Blend weights of basic (one-hot) or compound class names (two-hot: the union of the
    components' AUs, Du et al. 2014)."""
    weights = np.zeros((len(names), len(EXPRESSIONS)))
    for i, name in enumerate(names):
        for part in COMPOUND_COMPONENTS.get(name, (name,)):
            weights[i, EXPRESSIONS.index(part)] = 1.0
    return weights


def draw_classes(counts: dict, n: int, rng) -> np.ndarray:
    """``n`` class names drawn with the frequencies of ``counts`` (exact proportions, shuffled)."""
    names = list(counts)
    p = np.array([counts[k] for k in names], float)
    p /= p.sum()
    quota = np.floor(p * n).astype(int)
    quota[np.argsort(-(p * n - quota))[: n - quota.sum()]] += 1
    return rng.permutation(np.repeat(np.array(names, dtype=object), quota))


def render(aus, identities, nuisance, rng, size=100, raw=False, desc="rendering", color=False):
    """Render with :func:`fercore.synth.render.render_faces` on every worker it is given
    (:mod:`fercore.synth.parallel`); returns aligned, landmarks5 and, if ``raw``, the unaligned
    originals (list) and their landmarks; RGB with ``color`` (the datasets whose real
    counterparts are colour photographs: RAF-DB, RAF-ML, AffectNet, SFEW, EmotioNet). Images
    do not depend on the number of workers."""
    from fercore.synth.render import render_faces

    seed = int(rng.integers(0, 2**31))
    faces = render_faces(aus, identities, nuisance, size=size, seed=seed, raw=raw, desc=desc, color=color)
    raw_points = faces.raw_landmarks5.astype(np.float64) if raw else None
    return faces.aligned, faces.landmarks5.astype(np.float64), faces.raw or [], raw_points


def world_nuisance(domain: str, n: int, rng):
    """:func:`~fercore.synth.nuisance.sample_nuisance` with the raw canvas of :data:`RAW_CANVAS`."""
    nuisance = sample_nuisance(domain, n, rng)
    nuisance.raw_size = rng.integers(RAW_CANVAS[0], RAW_CANVAS[1] + 1, n).astype(np.int16)
    nuisance.raw_iod = rng.uniform(*RAW_IOD, n).astype(np.float32)
    return nuisance


def truth_table(files, domain, identity, aus, weights, nuisance, true_label, given_label=None, **extra) -> pd.DataFrame:
    """The ground-truth sidecar rows of ``files``."""
    from fercore.synth.render import eye_gaze, head_pitch

    gaze = eye_gaze(np.asarray(aus, np.float32), nuisance)
    pitch = head_pitch(np.asarray(aus, np.float32), nuisance)
    table = pd.DataFrame({"file": list(files), "domain": domain, "identity": np.asarray(identity)})
    table["true_label"] = list(true_label)
    if given_label is not None:
        table["given_label"] = list(given_label)
        table["flipped"] = table["true_label"] != table["given_label"]
    for key, value in extra.items():
        table[key] = list(value) if not np.isscalar(value) else value
    table = pd.concat([
        table,
        pd.DataFrame(np.round(weights, 4), columns=[f"w_{e}" for e in EXPRESSIONS]),
        pd.DataFrame(np.round(aus, 4), columns=[f"AU{a}" for a in AUS]),
        pd.DataFrame({
            "yaw": np.round(nuisance.yaw, 2), "pitch": np.round(pitch, 2), "roll": np.round(nuisance.roll, 2),
            "gaze_right": np.round(gaze[:, 0], 2), "gaze_down": np.round(gaze[:, 1], 2),
            "light_x": np.round(nuisance.light[:, 0], 3), "light_y": np.round(nuisance.light[:, 1], 3),
            "light_z": np.round(nuisance.light[:, 2], 3), "light_intensity": np.round(nuisance.light_intensity, 3),
            "occluder": [OCCLUDERS[k] for k in nuisance.occluder], "blur": np.round(nuisance.blur, 3),
            "noise": np.round(nuisance.noise, 3), "low_res": np.round(nuisance.low_res, 3),
            "jpeg_quality": nuisance.jpeg_quality,
        }),
    ], axis=1)
    return table


def nuisance_severity(nuisance) -> np.ndarray:
    """How much pose, occluders, blur and resolution loss hide an expression, roughly in [0, 1]."""
    pose = (np.abs(nuisance.yaw) / 50 + np.abs(nuisance.pitch) / 30) / 2
    occluded = (nuisance.occluder > 0) * 0.5
    quality = np.clip((nuisance.blur - 0.4) / 1.8, 0, 1) * 0.5 + np.clip(nuisance.low_res - 1, 0, 2) / 4
    return np.clip((pose + occluded + quality) / 1.5, 0, 1)


def flip_labels(labels, classes, flip_rate, rng) -> np.ndarray:
    """One annotator's labels: each true label replaced, with probability ``flip_rate``, by a
    class drawn from its row of the crowd confusion (never the true class itself)."""
    confusion = np.ones((len(classes), len(classes)))
    for i, a in enumerate(classes):
        for j, b in enumerate(classes):
            if a in BASIC7 and b in BASIC7:
                confusion[i, j] = crowd_sim.CONFUSION[BASIC7.index(a), BASIC7.index(b)] + 0.01
    np.fill_diagonal(confusion, 0)
    confusion /= confusion.sum(1, keepdims=True)
    index = np.array([classes.index(c) for c in labels])
    flipped = rng.random(len(index)) < flip_rate
    other = (confusion[index].cumsum(1) < rng.random((len(index), 1))).sum(1)
    return np.array(classes, dtype=object)[np.where(flipped, np.minimum(other, len(classes) - 1), index)]


def posing_subjects(emotions, n_subjects: int, rng):
    """Sequences grouped by emotion and dealt to subjects in turn, then shuffled: a subject poses
    an emotion at most once while no emotion has more sequences than there are subjects."""
    order = np.argsort(np.asarray(emotions, dtype=str), kind="stable")
    subjects = np.empty(len(order), int)
    subjects[order] = np.arange(len(order)) % n_subjects
    shuffle = rng.permutation(len(order))
    return np.asarray(emotions, dtype=object)[shuffle], subjects[shuffle]


def subject_split(n_identities: int, test_share: float, rng) -> np.ndarray:
    """``"train"`` / ``"test"`` per identity, so splits are subject-independent."""
    return np.where(rng.random(n_identities) < test_share, "test", "train").astype(object)


def ramp(n_frames: int) -> np.ndarray:
    """Expression strength from neutral (0) to peak (1) over a sequence, smooth onset."""
    t = np.linspace(0, 1, n_frames)
    return (3 * t**2 - 2 * t**3).astype(np.float32)


def onset_apex_offset(n_frames: int, apex: int = 3) -> np.ndarray:
    """Strength over an onset-apex-offset sequence: a rise, ``apex`` frames at 1, a fall."""
    rise = (n_frames - apex + 1) // 2
    fall = n_frames - apex - rise
    return np.concatenate([ramp(rise + 1)[:-1], np.ones(apex, np.float32), ramp(fall + 1)[:-1][::-1]])


# ---------------------------------------------------------------- RAF-DB and RAF-ML (one crowd)


def write_raf(rafdb_dir, rafml_dir, sizes, seed) -> dict:
    """RAF-DB and RAF-ML from one crowd-annotated pool of wild faces (RAF-ML's images are RAF
    images with multi-peak ground truth, as in the papers).

    ``raf_tasks`` faces get perceived emotion distributions (:func:`fercore.synth.crowd.simulate_perceived`),
    ``raf_votes_per_task`` votes each from ``raf_workers`` simulated annotators; GLAD-EM
    (:class:`fercore.crowd.GLAD`) estimates reliabilities, and the ground-truth vectors and subset
    rules of :mod:`fercore.ground_truth` pick the single-label, compound and multi-label images. Only
    those are rendered. Splits are subject-independent, about 5:1 as in RAF-DB.
    """
    rng = np.random.default_rng(seed)
    n = int(sizes["raf_tasks"])
    perceived = crowd_sim.simulate_perceived(n, mean_difficulty=RAF_MEAN_DIFFICULTY, rng=rng)
    nuisance = world_nuisance("wild", n, rng)
    difficulty = perceived.difficulty + 0.5 * nuisance_severity(nuisance)
    workers = crowd_sim.simulate_annotators(int(sizes["raf_workers"]), float(sizes["raf_spammer_fraction"]), rng)
    votes = crowd_sim.simulate_votes(perceived.distribution, workers, int(sizes["raf_votes_per_task"]), difficulty, rng)
    glad = crowd_em.GLAD().fit(votes)
    g = ground_truth.ground_truth_vectors(votes, glad.alphas_).to_numpy()
    single = ground_truth.single_label_subset(g)
    compound = ground_truth.compound_subset(g)
    multilabel, distribution6, keep_ml = ground_truth.multilabel_subset(g)

    n_ids = max(2, n // 3)
    identities = sample_identities(n_ids, rng)
    identity = rng.integers(0, n_ids, n)
    split = subject_split(n_ids, 1 / 6, rng)[identity]
    weights = np.concatenate([perceived.distribution, np.zeros((n, 1))], axis=1)
    weights /= weights.max(axis=1, keepdims=True)
    aus = sample_aus(weights, "wild", rng, au_gain=identities.au_gain[identity])
    chosen = np.flatnonzero((single >= 0) | (compound >= 0) | keep_ml)
    aligned, points, raw, raw_points = render(aus[chosen], identities[identity[chosen]], nuisance[chosen], rng,
                                              raw=True, desc="raf", color=True)
    row = {task: i for i, task in enumerate(chosen)}
    attribute_codes = np.stack([identities.gender, identities.race, identities.age], 1)[identity]
    top_two = np.argsort(-perceived.distribution[:, :6], axis=1)[:, :2]
    compound_true = ground_truth.COMPOUND_PAIRS[top_two[:, 0], top_two[:, 1]]
    true_label = {"basic": np.array(BASIC7, dtype=object)[perceived.label],
                  "compound": np.where(compound_true >= 0, np.array(COMPOUND11, dtype=object)[compound_true], "none")}
    files = {}

    def numbered(tasks, subset):
        counter = {"train": 0, "test": 0}
        names = []
        for t in tasks:
            counter[split[t]] += 1
            names.append(rafdb.image_name(split[t], counter[split[t]], "basic" if subset == "basic" else "compound"))
        files[subset] = pd.Series(names, index=tasks, dtype=object)
        return names, [row[t] for t in tasks]

    truth_rows = []
    for subset, labels, classes in (("basic", single, BASIC7), ("compound", compound, COMPOUND11)):
        tasks = np.flatnonzero(labels >= 0)
        names, r = numbered(tasks, subset)
        rafdb.write_rafdb_subset(rafdb_dir, subset, names, labels[tasks], aligned[r], distributions=g[tasks],
                                 landmarks=raw_points[r], attributes=attribute_codes[tasks],
                                 originals=[raw[i] for i in r])
        truth_rows.append(truth_table([f"{subset}/{name}" for name in names], "wild", identity[tasks], aus[tasks],
                                      weights[tasks], nuisance[tasks], true_label[subset][tasks],
                                      np.array(classes, dtype=object)[labels[tasks]], task=tasks,
                                      kind=perceived.kind[tasks]))
    write_truth(rafdb_dir, pd.concat(truth_rows, ignore_index=True))

    tasks = np.flatnonzero(keep_ml)
    names, r = numbered(tasks, "rafml")
    rafml.write_rafml(rafml_dir, names, aligned[r], distribution6[tasks], multilabel[tasks], landmarks=raw_points[r],
                      attributes=attribute_codes[tasks], originals=[raw[i] for i in r])
    true_sets = ["+".join(e for e, p in zip(EMOTIONS6, d) if p > 1 / 7) for d in perceived.distribution[tasks]]
    write_truth(rafml_dir, truth_table(names, "wild", identity[tasks], aus[tasks], weights[tasks], nuisance[tasks],
                                       true_sets, task=tasks, kind=perceived.kind[tasks]))

    task_table = pd.DataFrame({"task": np.arange(n), "kind": perceived.kind, "difficulty": np.round(difficulty, 4),
                               "identity": identity, "true_label": perceived.label, "split": split,
                               **{f"{subset}_file": files[subset].reindex(range(n), fill_value="").to_numpy()
                                  for subset in ("basic", "compound", "rafml")}})
    for k, emotion in enumerate(BASIC7):
        task_table[f"p_{emotion}"] = np.round(perceived.distribution[:, k], 4)
    rafdb.write_crowd(rafdb_dir, rafdb.CrowdVotes(votes, task_table, workers))
    return {
        "rafdb": {"images": int((single >= 0).sum() + (compound >= 0).sum()), "tasks": n,
                  "basic": int((single >= 0).sum()), "compound": int((compound >= 0).sum()), "votes": len(votes)},
        "rafml": {"images": int(keep_ml.sum())},
        "rendered": len(chosen),
    }


# ---------------------------------------------------------------- AffectNet


def write_affectnet(folder, sizes, seed) -> dict:
    """AffectNet-like: wild, AffectNet's class imbalance in training, 500-per-class style
    balanced validation, one annotator per image who flips ``affectnet_flip_rate`` of the labels,
    unaligned originals with a face box and landmarks."""
    rng = np.random.default_rng(seed)
    n_train, n_val = int(sizes["affectnet_train"]), int(sizes["affectnet_val"])
    classes = list(AFFECTNET_COUNTS)
    true = np.concatenate([draw_classes(AFFECTNET_COUNTS, n_train, rng),
                           draw_classes({c: 1 for c in classes}, n_val, rng)])
    split = np.array(["train"] * n_train + ["val"] * n_val, dtype=object)
    n = len(true)
    given = flip_labels(true, classes, float(sizes["affectnet_flip_rate"]), rng)
    n_ids = max(2, n // 3)
    identities = sample_identities(n_ids, rng)
    identity = rng.integers(0, n_ids, n)
    weights = blend_weights(true)
    aus = sample_aus(weights, "wild", rng, au_gain=identities.au_gain[identity])
    nuisance = world_nuisance("wild", n, rng)
    _, _, raw, raw_points = render(aus, identities[identity], nuisance, rng, raw=True, desc="affectnet",
                                color=True)
    boxes = face_boxes(raw_points, [im.shape[:2] for im in raw])
    va = np.array([VALENCE_AROUSAL[c] for c in given]) + rng.normal(0, 0.15, (n, 2))
    files = np.array([f"{i // 1000 + 1}/{i:07d}.jpg" for i in range(n)], dtype=object)
    for s in ("train", "val"):
        m = split == s
        affectnet.write_affectnet(folder, s, files[m], [raw[i] for i in np.flatnonzero(m)], boxes[m], raw_points[m],
                                  given[m], np.clip(va[m, 0], -1, 1), np.clip(va[m, 1], -1, 1))
    write_truth(folder, truth_table(files, "wild", identity, aus, weights, nuisance, true, given, split=split))
    return {"images": n, "train": n_train, "val": n_val, "flipped": int((given != true).sum())}


def face_boxes(points, shapes) -> np.ndarray:
    """Square face boxes (x, y, w, h) around five landmarks, as a face detector would give,
    kept inside images of ``shapes`` (h, w)."""
    points = np.asarray(points)
    eyes = points[:, :2].mean(1)
    mouth = points[:, 3:].mean(1)
    iod = np.linalg.norm(points[:, 1] - points[:, 0], axis=1)
    heights, widths = np.asarray(shapes, dtype=float).T
    side = np.minimum(2.2 * np.maximum(iod, 1.3 * np.linalg.norm(mouth - eyes, axis=1)), np.minimum(heights, widths))
    corner = (eyes + mouth) / 2 - side[:, None] / 2
    corner = np.clip(corner, 0, np.column_stack([widths, heights]) - side[:, None])
    return np.column_stack([corner, side, side])


# ---------------------------------------------------------------- FER2013


def write_fer2013(folder, sizes, seed) -> dict:
    """FER2013-like: 48 x 48 wild faces with FER2013's class frequencies and 80/10/10 usage."""
    rng = np.random.default_rng(seed)
    n = int(sizes["fer2013_images"])
    true = draw_classes(FER2013_COUNTS, n, rng)
    n_ids = max(2, n // 3)
    identities = sample_identities(n_ids, rng)
    identity = rng.integers(0, n_ids, n)
    weights = blend_weights(true)
    aus = sample_aus(weights, "wild", rng, au_gain=identities.au_gain[identity])
    nuisance = world_nuisance("wild", n, rng)
    aligned, *_ = render(aus, identities[identity], nuisance, rng, size=fer2013.SIDE, desc="fer2013")
    split = np.array(["train", "val", "test"], dtype=object)[rng.choice(3, n, p=[0.8, 0.1, 0.1])]
    fer2013.write_fer2013(folder, aligned, [BASIC7.index(c) for c in true], split)
    files = [fer2013.row_name(i) for i in range(n)]
    write_truth(folder, truth_table(files, "wild", identity, aus, weights, nuisance, true, true, split=split))
    return {"images": n}


# ---------------------------------------------------------------- lab sequences: CK+, Oulu-CASIA, MMI


def _sequences(emotions, subjects, n_frames, domain, rng, identities, nuisance_of=None, peak_hold=0):
    """AUs and nuisance of posed sequences: ``emotions[i]`` by ``subjects[i]`` (identity index)
    over ``n_frames`` frames from neutral to peak (and back to neutral after ``peak_hold``
    apex frames when ``peak_hold`` > 0, MMI's onset-apex-offset)."""
    n = len(emotions)
    peak = sample_aus(blend_weights(emotions), domain, rng, au_gain=identities.au_gain[subjects])
    base = nuisance_of if nuisance_of is not None else world_nuisance(domain, n, rng)
    t = onset_apex_offset(n_frames, peak_hold) if peak_hold else ramp(n_frames)
    seq = np.repeat(np.arange(n), len(t))
    frame_t = np.tile(t, n)
    aus = intensity(peak[seq], frame_t)
    return aus, base[seq], seq, frame_t, peak


def write_ckplus(folder, sizes, seed) -> dict:
    """CK+-like: ``ckplus_subjects`` subjects, each posing several emotions (CK+'s labelled
    sequence frequencies, contempt included) in lab conditions, ``ckplus_frames`` frames from
    neutral to peak; unaligned PNG frames with landmarks, emotion and FACS files."""
    rng = np.random.default_rng(seed)
    n_subjects, n_frames = int(sizes["ckplus_subjects"]), int(sizes["ckplus_frames"])
    per_subject = sum(CKPLUS_COUNTS.values()) / 123
    n_seq = max(len(CKPLUS_COUNTS), int(round(n_subjects * per_subject)))
    emotions, subjects = posing_subjects(draw_classes(CKPLUS_COUNTS, n_seq, rng), n_subjects, rng)
    identities = sample_identities(n_subjects, rng, age_p=(0, 0, 1, 0, 0))
    aus, nuisance, seq, t, peak = _sequences(emotions, subjects, n_frames, "lab", rng, identities)
    _, _, raw, raw_points = render(aus, identities[subjects[seq]], nuisance, rng, raw=True, desc="ck+")
    files = []
    numbers = np.zeros(n_subjects, int)
    subject_names = [f"S{5 + 5 * k:03d}" for k in range(n_subjects)]
    for i in range(n_seq):
        numbers[subjects[i]] += 1
        rows = np.flatnonzero(seq == i)
        facs = {AUS[j]: int(np.clip(np.ceil(peak[i, j] / 0.3), 1, 5)) for j in np.flatnonzero(peak[i] >= AU_PRESENT)}
        files.extend(ckplus.write_ckplus_sequence(folder, subject_names[subjects[i]], f"{numbers[subjects[i]]:03d}",
                                                  [raw[r] for r in rows], raw_points[rows], emotions[i], facs))
    weights = blend_weights(emotions)[seq] * t[:, None]
    labels = np.where(t > 0, emotions[seq], "neutral")
    write_truth(folder, truth_table(files, "lab", subjects[seq], aus, weights, nuisance, labels, sequence=seq,
                                    t=np.round(t, 4)))
    return {"images": len(files), "sequences": n_seq, "subjects": n_subjects}


def write_oulu(folder, sizes, seed) -> dict:
    """Oulu-CASIA-like: ``oulu_subjects`` subjects x the six emotions, ``oulu_frames`` aligned
    frames from neutral to peak, lab conditions (VL, strong light)."""
    rng = np.random.default_rng(seed)
    n_subjects, n_frames = int(sizes["oulu_subjects"]), int(sizes["oulu_frames"])
    identities = sample_identities(n_subjects, rng, age_p=(0, 0.1, 0.9, 0, 0))
    emotions = np.tile(np.array(EMOTIONS6, dtype=object), n_subjects)
    subjects = np.repeat(np.arange(n_subjects), len(EMOTIONS6))
    aus, nuisance, seq, t, _ = _sequences(emotions, subjects, n_frames, "lab", rng, identities)
    aligned, *_ = render(aus, identities[subjects[seq]], nuisance, rng, desc="oulu")
    files = []
    for i in range(len(emotions)):
        rows = np.flatnonzero(seq == i)
        files.extend(mmi_oulu.write_oulu_sequence(folder, f"P{subjects[i] + 1:03d}", emotions[i], aligned[rows]))
    weights = blend_weights(emotions)[seq] * t[:, None]
    write_truth(folder, truth_table(files, "lab", subjects[seq], aus, weights, nuisance,
                                    np.where(t > 0, emotions[seq], "neutral"), sequence=seq, t=np.round(t, 4)))
    return {"images": len(files), "sequences": len(emotions)}


def write_mmi(folder, sizes, seed) -> dict:
    """MMI-like: ``mmi_subjects`` subjects posing the six emotions (``mmi_sequences`` sequences
    in all), lab light with accessories (glasses, hats: a fifth of the sequences), onset-apex-offset
    sequences of ``mmi_frames`` frames whose three apex frames are the labelled peaks."""
    rng = np.random.default_rng(seed)
    n_subjects, n_seq, n_frames = int(sizes["mmi_subjects"]), int(sizes["mmi_sequences"]), int(sizes["mmi_frames"])
    identities = sample_identities(n_subjects, rng, age_p=(0, 0.05, 0.75, 0.2, 0))
    emotions, subjects = posing_subjects(draw_classes({e: 1 for e in EMOTIONS6}, n_seq, rng), n_subjects, rng)
    nuisance = world_nuisance("lab", n_seq, rng)
    accessory = rng.random(n_seq) < 0.2
    accessories = [OCCLUDERS.index("glasses"), OCCLUDERS.index("hat_band")]
    nuisance.occluder[accessory] = rng.choice(accessories, accessory.sum())
    aus, frame_nuisance, seq, t, _ = _sequences(emotions, subjects, n_frames, "lab", rng, identities,
                                                nuisance_of=nuisance, peak_hold=3)
    aligned, *_ = render(aus, identities[subjects[seq]], frame_nuisance, rng, desc="mmi")
    per_seq = len(t) // n_seq
    apex = [int(k) for k in np.flatnonzero(t[:per_seq] == 1.0)]
    sessions = [f"{100 + i}" for i in range(n_seq)]
    files = mmi_oulu.write_mmi(folder, sessions, [f"{s + 1}" for s in subjects], emotions, [apex] * n_seq,
                               [aligned[seq == i] for i in range(n_seq)])
    write_truth(folder, truth_table(files, "lab", subjects[seq], aus, blend_weights(emotions)[seq] * t[:, None],
                                    frame_nuisance, np.where(t > 0, emotions[seq], "neutral"), sequence=seq,
                                    t=np.round(t, 4)))
    return {"images": len(files), "sequences": n_seq}


# ---------------------------------------------------------------- JAFFE, SFEW, EmotioNet


JAFFE_RATING_SPREAD = 5.0
"""How much more a JAFFE-style rating panel registers confusable emotions than a forced choice."""


def write_jaffe(folder, sizes, seed) -> dict:
    """JAFFE-like: ``jaffe_subjects`` (10 in JAFFE, with its subjects' initials) pose the seven
    expressions ``jaffe_poses`` times each in lab conditions, with weaker secondary emotions;
    unaligned TIFF originals with a five-landmark sidecar; semantic ratings of the six emotions
    (1-5) as the mean a rater panel would give: 1 + 4 x perceived intensity, plus noise, where the
    perceived intensity of an emotion adds to its blend weight the cues of the other emotions that
    raters read as it (the crowd's confusion, x :data:`JAFFE_RATING_SPREAD`: a 1-5 rating of every
    adjective registers weak impressions that a forced choice drops), so that, as in JAFFE, fear
    faces are also rated surprised and disgusted faces angry."""
    rng = np.random.default_rng(seed)
    poses = int(sizes["jaffe_poses"])
    identities = sample_identities(len(JAFFE_SUBJECTS), rng, gender_p=(0, 1, 0), race_p=(0, 0, 1),
                                   age_p=(0, 0, 1, 0, 0))
    expressions = list(BASIC7)
    n_subjects = int(sizes["jaffe_subjects"])
    if not 1 <= n_subjects <= len(JAFFE_SUBJECTS):
        raise ValueError(f"jaffe_subjects must be in 1..{len(JAFFE_SUBJECTS)}, got {n_subjects}")
    rows = [(s, e, k) for s in range(n_subjects) for e in expressions for k in range(1, poses + 1)]
    subjects = np.array([r[0] for r in rows])
    posed = np.array([r[1] for r in rows], dtype=object)
    n = len(rows)
    secondary = rng.dirichlet(np.full(len(EXPRESSIONS), 0.4), n) * rng.uniform(0, 0.6, (n, 1))
    weights = np.maximum(blend_weights(posed) * rng.uniform(0.6, 1.0, (n, 1)), secondary)
    weights[:, EXPRESSIONS.index(CONTEMPT)] = 0
    weights[:, EXPRESSIONS.index("neutral")] = 0
    aus = sample_aus(weights, "lab", rng, au_gain=identities.au_gain[subjects])
    nuisance = world_nuisance("lab", n, rng)
    _, _, raw, raw_points = render(aus, identities[subjects], nuisance, rng, raw=True, desc="jaffe")
    six = weights[:, [EXPRESSIONS.index(e) for e in EMOTIONS6]]
    six_index = [BASIC7.index(e) for e in EMOTIONS6]
    read_as = crowd_sim.CONFUSION[np.ix_(six_index, six_index)] * (1 - np.eye(len(EMOTIONS6)))
    perceived = np.clip(six + JAFFE_RATING_SPREAD * six @ read_as, 0, 1)
    ratings = np.clip(1 + 4 * perceived + rng.normal(0, 0.3, six.shape), 1, 5)
    serials = rng.permutation(np.arange(1, n + 1) + 20)
    files = [jaffe.file_name(JAFFE_SUBJECTS[s], e, k, int(serials[i])) for i, (s, e, k) in enumerate(rows)]
    jaffe.write_jaffe(folder, files, raw, ratings, raw_points)
    write_truth(folder, truth_table(files, "lab", subjects, aus, weights, nuisance, posed, posed))
    return {"images": n}


def write_sfew(folder, sizes, seed) -> dict:
    """SFEW-like: film domain (moderate pose and light, some clutter and accessories), aligned
    100 x 100 PNG faces in Train/Val class folders; faces are of actors seen in several frames."""
    rng = np.random.default_rng(seed)
    n_train, n_val = int(sizes["sfew_train"]), int(sizes["sfew_val"])
    n = n_train + n_val
    true = draw_classes(SFEW_SHARES, n, rng)
    n_ids = max(2, n // 4)
    identities = sample_identities(n_ids, rng, age_p=(0, 0.1, 0.6, 0.27, 0.03))
    identity = rng.integers(0, n_ids, n)
    split = np.array(["train"] * n_train + ["val"] * n_val, dtype=object)
    weights = blend_weights(true)
    aus = sample_aus(weights, "film", rng, au_gain=identities.au_gain[identity])
    nuisance = world_nuisance("film", n, rng)
    aligned, *_ = render(aus, identities[identity], nuisance, rng, desc="sfew", color=True)
    films = ("Airplane", "BlackSwan", "Descendants", "Hangover", "HarryPotter", "Inception", "Juno", "Memento")
    files = [sfew.sfew_path(split[i], true[i], f"{films[identity[i] % len(films)]}_{i:09d}_{identity[i]:08d}.png")
             for i in range(n)]
    sfew.write_sfew(folder, files, aligned)
    write_truth(folder, truth_table(files, "film", identity, aus, weights, nuisance, true, true, split=split))
    return {"images": n, "train": n_train, "val": n_val}


def write_emotionet(folder, sizes, seed) -> dict:
    """EmotioNet-like: wild faces of basic and compound emotions; AU presence (intensity >=
    0.25) of the challenge's 12 AUs for every image, 2% of the entries not coded (999); the
    emotion name for ``emotionet_emotion_fraction`` of the images."""
    rng = np.random.default_rng(seed)
    n = int(sizes["emotionet_images"])
    is_compound = rng.random(n) < 0.35
    names = np.where(is_compound, draw_classes(EMOTIONET_COMPOUND_SHARES, n, rng),
                     draw_classes({e: 1 for e in BASIC7}, n, rng)).astype(object)
    weights = blend_weights(names)
    n_ids = max(2, n // 3)
    identities = sample_identities(n_ids, rng)
    identity = rng.integers(0, n_ids, n)
    aus = sample_aus(weights, "wild", rng, au_gain=identities.au_gain[identity])
    nuisance = world_nuisance("wild", n, rng)
    aligned, *_ = render(aus, identities[identity], nuisance, rng, desc="emotionet", color=True)
    columns = [AUS.index(a) for a in emotionet.CHALLENGE_AUS]
    presence = (aus[:, columns] >= AU_PRESENT).astype(float)
    presence[rng.random(presence.shape) < 0.02] = np.nan
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    labelled = np.flatnonzero(rng.random(n) < float(sizes["emotionet_emotion_fraction"]))
    emotionet.write_emotionet(folder, files, aligned, presence, [files[i] for i in labelled], names[labelled])
    write_truth(folder, truth_table(files, "wild", identity, aus, weights, nuisance, names,
                                    emotion_labelled=np.isin(np.arange(n), labelled)))
    return {"images": n, "emotion_labelled": len(labelled)}


WRITERS = {
    "raf": (("rafdb", "rafml"), write_raf),
    "affectnet": (("affectnet",), write_affectnet),
    "fer2013": (("fer2013",), write_fer2013),
    "ckplus": (("ckplus",), write_ckplus),
    "jaffe": (("jaffe",), write_jaffe),
    "sfew": (("sfew",), write_sfew),
    "emotionet": (("emotionet",), write_emotionet),
    "mmi": (("mmi",), write_mmi),
    "oulu": (("oulu",), write_oulu),
}
"""Generation unit -> (datasets it writes, writer). ``write_raf`` takes two folders."""
