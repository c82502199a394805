"""Crowd simulation: a pool of annotators and their votes on images with known perceived emotions.

RAF-DB (Li, Deng & Du 2017, §3.1) had 315 annotators each label randomly assigned images into the
most apparent of the seven basic classes, about 40 votes per image. This module simulates that
process with known ground truth: each image has a *perceived* emotion distribution over BASIC7
(RAF order, :mod:`fercore.labels`) and a difficulty; each annotator has a reliability, and about
10% of them are spammers. Votes are a ``(task, worker, label)`` table, labels being BASIC7 indices,
the input of the aggregators in :mod:`fercore.crowd`.

Vote model of a good annotator *i* on image *j* (perceived distribution ``pi_j``, difficulty
``d_j >= 0``, reliability ``r_i`` in (0, 1]):

* competence ``c_ij = r_i / (1 + d_j)``;
* confusions: ``pi'_j = c_ij * pi_j + (1 - c_ij) * pi_j @ CONFUSION`` (fear read as surprise,
  disgust as anger, sadness as neutral...);
* sharpening by reliability, flattening by difficulty: ``q_ij ∝ pi'_j ** ((1 + 2 r_i) / (1 + d_j))``
  (the annotator names the most apparent emotion more or less consistently);
* lapses: ``q_ij <- (1 - l_i) q_ij + l_i / 7`` with ``l_i = 0.1 (1 - r_i)``.

Spammers ignore the image: "uniform" spammers vote uniformly at random, "biased" spammers vote
one fixed class 60% of the time and uniformly otherwise.
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from fercore.labels import BASIC7, COMPOUND11, COMPOUND_COMPONENTS

N_CLASSES = len(BASIC7)
NEUTRAL = BASIC7.index("neutral")

CONFUSION = np.array(
    [
        # surprise fear disgust happy  sad  anger neutral   <- read as
        [0.86, 0.06, 0.01, 0.04, 0.00, 0.01, 0.02],  # surprise
        [0.12, 0.72, 0.04, 0.00, 0.08, 0.02, 0.02],  # fear
        [0.01, 0.03, 0.70, 0.01, 0.08, 0.12, 0.05],  # disgust
        [0.03, 0.00, 0.01, 0.93, 0.00, 0.00, 0.03],  # happiness
        [0.01, 0.05, 0.04, 0.00, 0.78, 0.03, 0.09],  # sadness
        [0.01, 0.02, 0.12, 0.00, 0.04, 0.76, 0.05],  # anger
        [0.02, 0.01, 0.02, 0.03, 0.09, 0.03, 0.80],  # neutral
    ]
)
"""Row-stochastic confusion of perceived class (row) into named class (column), BASIC7 order.

Hand-set to the pattern of RAF-DB's confusion figures (fear↔surprise, disgust↔anger,
sadness↔neutral are the frequent mix-ups); not measured on real data.
"""

SINGLE_LABEL_COUNTS = np.array([1619, 355, 877, 5957, 2460, 867, 3204])
"""Images per class in RAF-DB's single-label subset (BASIC7 order; 15,339 in all)."""

COMPOUND_COUNTS = {
    "happily surprised": 697,
    "happily disgusted": 266,
    "sadly fearful": 129,
    "sadly angry": 163,
    "sadly surprised": 86,
    "sadly disgusted": 738,
    "fearfully angry": 150,
    "fearfully surprised": 560,
    "angrily surprised": 176,
    "angrily disgusted": 841,
    "disgustedly surprised": 148,
}
"""Images per compound class in RAF-DB (3,954 in all)."""

FEARFULLY_DISGUSTED_SHARE = 0.01
"""Share of two-emotion images that blend fear and disgust (RAF-DB dropped this class: too few)."""

KIND_SHARES = {"single": 0.55, "compound": 0.10, "neutral_blend": 0.30, "triple": 0.04, "diffuse": 0.01}
"""Default mixture of perceived-distribution kinds in :func:`simulate_perceived`, set so that the
RAF-DB subset rules select about the papers' shares (single-label 51.7%, compound 13.3%,
multi-label 16.5% of 29,672 images) from a 40-vote crowd."""

SPAMMER_BIAS_STRENGTH = 0.6


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        if rng is None:
            raise ValueError("rng: pass a seed (int) or a numpy Generator; randomness must be seeded")
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng: expected an int seed or numpy Generator, got {type(rng).__name__}")


class PerceivedEmotions(NamedTuple):
    """Per-image ground truth of a simulated crowd world."""

    distribution: np.ndarray
    """(n_tasks, 7) perceived emotion distribution over BASIC7; rows sum to 1."""
    difficulty: np.ndarray
    """(n_tasks,) difficulty >= 0 (blur, occlusion, pose: flattens every annotator's votes)."""
    kind: np.ndarray
    """(n_tasks,) one of the :data:`KIND_SHARES` kinds ('single', 'compound', 'neutral_blend'...)."""

    @property
    def label(self) -> np.ndarray:
        """The true label of each image: its most perceived emotion (BASIC7 index)."""
        return self.distribution.argmax(axis=1)


def simulate_perceived(n_tasks, kind_shares=None, mean_difficulty=0.6, rng=0) -> PerceivedEmotions:
    """A RAF-like mixture of perceived emotion distributions, as :class:`PerceivedEmotions`.

    ``single`` images have one dominant emotion drawn with RAF-DB's single-label class frequencies
    (weight ~ Beta(8, 2), the rest spread by a Dirichlet(0.3)); ``compound`` images blend the two
    components of a compound class drawn with RAF-DB's compound frequencies (weights 0.5–0.75 vs the
    rest); ``neutral_blend`` images mix one emotion with neutral; ``triple`` images blend three of
    the six emotions; ``diffuse`` images are Dirichlet(1) over all seven classes. ``kind_shares``
    maps kinds to shares (default :data:`KIND_SHARES`). Difficulty ~ Gamma(2, mean_difficulty / 2).
    """
    rng = _as_rng(rng)
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    shares = dict(KIND_SHARES if kind_shares is None else kind_shares)
    unknown = set(shares) - set(KIND_SHARES)
    if unknown:
        raise ValueError(f"kind_shares: unknown kinds {sorted(unknown)}; use {sorted(KIND_SHARES)}")
    names = list(KIND_SHARES)
    p = np.array([shares.get(k, 0.0) for k in names], dtype=float)
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"kind_shares must be non-negative and not all zero, got {shares}")
    kind_idx = rng.choice(len(names), size=n_tasks, p=p / p.sum())
    kind = np.array(names, dtype=object)[kind_idx]

    noise = rng.dirichlet(np.full(N_CLASSES, 0.3), size=n_tasks)
    dist = np.empty((n_tasks, N_CLASSES))

    single = kind == "single"
    k = rng.choice(N_CLASSES, size=single.sum(), p=SINGLE_LABEL_COUNTS / SINGLE_LABEL_COUNTS.sum())
    w = rng.beta(8, 2, size=single.sum())[:, None]
    dist[single] = (1 - w) * noise[single]
    dist[single, k] += w[:, 0]

    compound = kind == "compound"
    index = {name: i for i, name in enumerate(BASIC7)}
    pairs = [tuple(index[c] for c in COMPOUND_COMPONENTS[name]) for name in COMPOUND11]
    pairs.append((index["fear"], index["disgust"]))
    counts = np.array([COMPOUND_COUNTS[name] for name in COMPOUND11], dtype=float)
    weights = np.append(counts / counts.sum() * (1 - FEARFULLY_DISGUSTED_SHARE), FEARFULLY_DISGUSTED_SHARE)
    pair = np.array(pairs)[rng.choice(len(pairs), size=compound.sum(), p=weights)]
    swap = rng.random(compound.sum()) < 0.5
    first = np.where(swap, pair[:, 1], pair[:, 0])
    second = np.where(swap, pair[:, 0], pair[:, 1])
    a = rng.uniform(0.5, 0.75, size=compound.sum())
    rows = np.flatnonzero(compound)
    dist[compound] = 0.15 * noise[compound]
    dist[rows, first] += 0.85 * a
    dist[rows, second] += 0.85 * (1 - a)

    blend = kind == "neutral_blend"
    rows = np.flatnonzero(blend)
    emotion_counts = SINGLE_LABEL_COUNTS[:NEUTRAL]
    emotion = rng.choice(NEUTRAL, size=blend.sum(), p=emotion_counts / emotion_counts.sum())
    a = rng.uniform(0.35, 0.65, size=blend.sum())
    dist[blend] = 0.1 * noise[blend]
    dist[rows, emotion] += 0.9 * a
    dist[rows, NEUTRAL] += 0.9 * (1 - a)

    triple = kind == "triple"
    rows = np.flatnonzero(triple)
    three = np.argsort(rng.random((triple.sum(), 6)), axis=1)[:, :3]
    shares3 = rng.dirichlet(np.full(3, 6.0), size=triple.sum())
    dist[triple] = 0.15 * noise[triple]
    np.add.at(dist, (np.repeat(rows, 3), three.ravel()), 0.85 * shares3.ravel())

    diffuse = kind == "diffuse"
    dist[diffuse] = rng.dirichlet(np.ones(N_CLASSES), size=diffuse.sum())

    dist /= dist.sum(axis=1, keepdims=True)
    difficulty = rng.gamma(2.0, mean_difficulty / 2.0, size=n_tasks)
    return PerceivedEmotions(dist, difficulty, kind)


def simulate_annotators(n_workers=315, spammer_fraction=0.1, rng=0) -> pd.DataFrame:
    """A pool of annotators: ``worker`` (int id), ``reliability``, ``is_spammer``, plus
    ``spammer_kind`` ('', 'uniform' or 'biased') and ``bias_label`` (BASIC7 index, -1 if none).

    Good annotators have reliability ~ Beta(5, 1.5) clipped to [0.2, 1] (mean about 0.77);
    ``round(spammer_fraction * n_workers)`` spammers have reliability 0, half of them uniform,
    half biased towards one random class.
    """
    rng = _as_rng(rng)
    if int(n_workers) != n_workers or n_workers < 1:
        raise ValueError(f"n_workers must be a positive integer, got {n_workers}")
    if not 0.0 <= spammer_fraction <= 1.0:
        raise ValueError(f"spammer_fraction must be in [0, 1], got {spammer_fraction}")
    n_workers = int(n_workers)
    reliability = np.clip(rng.beta(5.0, 1.5, size=n_workers), 0.2, 1.0)
    n_spam = int(round(spammer_fraction * n_workers))
    spammers = rng.permutation(n_workers)[:n_spam]
    is_spammer = np.zeros(n_workers, dtype=bool)
    is_spammer[spammers] = True
    kind = np.full(n_workers, "", dtype=object)
    kind[spammers] = np.where(np.arange(n_spam) % 2 == 0, "uniform", "biased")
    bias_label = np.full(n_workers, -1)
    biased = kind == "biased"
    bias_label[biased] = rng.integers(0, N_CLASSES, size=biased.sum())
    reliability[is_spammer] = 0.0
    return pd.DataFrame(
        {
            "worker": np.arange(n_workers),
            "reliability": reliability,
            "is_spammer": is_spammer,
            "spammer_kind": kind.astype(str),
            "bias_label": bias_label,
        }
    )


def vote_distribution(perceived, difficulty, reliability):
    """Each vote's class distribution for a good annotator (module docstring), row-wise.

    ``perceived`` (n, 7), ``difficulty`` (n,), ``reliability`` (n,) → (n, 7), rows sum to 1.
    """
    competence = (reliability / (1.0 + difficulty))[:, None]
    confused = competence * perceived + (1.0 - competence) * (perceived @ CONFUSION)
    exponent = ((1.0 + 2.0 * reliability) / (1.0 + difficulty))[:, None]
    with np.errstate(divide="ignore"):
        sharpened = np.exp(exponent * np.log(confused))
    sharpened /= sharpened.sum(axis=1, keepdims=True)
    lapse = (0.1 * (1.0 - reliability))[:, None]
    return (1.0 - lapse) * sharpened + lapse / N_CLASSES


def _assign_workers(n_tasks, n_workers, votes_per_task, rng):
    """Distinct workers per task with near-equal loads: blocks of tasks share one permutation."""
    per_block = n_workers // votes_per_task
    n_blocks = -(-n_tasks // per_block)
    perm = np.argsort(rng.random((n_blocks, n_workers)), axis=1)[:, : per_block * votes_per_task]
    return perm.reshape(n_blocks * per_block, votes_per_task)[:n_tasks]


def simulate_votes(
    perceived, annotators, votes_per_task=40, difficulty=None, rng=0, chunk_size=1 << 18
) -> pd.DataFrame:
    """Crowd votes ``(task, worker, label)`` on images with known perceived distributions.

    ``perceived``: (n_tasks, 7) over BASIC7; ``annotators``: the frame of
    :func:`simulate_annotators`; ``votes_per_task``: an int or an (n_tasks,) array of counts;
    ``difficulty``: (n_tasks,) >= 0 (zeros if None). Tasks are ``0..n_tasks-1``, labels BASIC7
    indices. Each task gets distinct workers (nobody votes twice on a task), loads are balanced
    as in RAF-DB's random, equal assignment. Rows are ordered by task.
    """
    rng = _as_rng(rng)
    perceived = np.asarray(perceived, dtype=float)
    if perceived.ndim != 2 or perceived.shape[1] != N_CLASSES:
        raise ValueError(f"perceived must have shape (n_tasks, {N_CLASSES}), got {perceived.shape}")
    if not np.isfinite(perceived).all() or (perceived < 0).any():
        raise ValueError("perceived must be finite and non-negative")
    sums = perceived.sum(axis=1)
    if (sums <= 0).any():
        raise ValueError(f"perceived row {int(np.argmax(sums <= 0))} sums to 0")
    perceived = perceived / sums[:, None]
    n_tasks = perceived.shape[0]
    difficulty = np.zeros(n_tasks) if difficulty is None else np.asarray(difficulty, dtype=float)
    if difficulty.shape != (n_tasks,) or not np.isfinite(difficulty).all() or (difficulty < 0).any():
        raise ValueError(f"difficulty must be a finite, non-negative array of shape ({n_tasks},)")
    for column in ("worker", "reliability", "is_spammer"):
        if column not in annotators.columns:
            raise ValueError(f"annotators: missing column {column!r}")
    n_workers = len(annotators)
    counts = np.broadcast_to(np.asarray(votes_per_task), (n_tasks,)).astype(int)
    max_votes = int(counts.max())
    if counts.min() < 1 or max_votes > n_workers:
        raise ValueError(f"votes_per_task must be in [1, n_workers={n_workers}], got {votes_per_task}")

    slots = _assign_workers(n_tasks, n_workers, max_votes, rng)
    keep = np.arange(max_votes)[None, :] < counts[:, None]
    task = np.broadcast_to(np.arange(n_tasks)[:, None], slots.shape)[keep]
    worker_row = slots[keep]
    uniform = rng.random(task.size)

    reliability = annotators["reliability"].to_numpy(dtype=float)[worker_row]
    spam = annotators["is_spammer"].to_numpy(dtype=bool)
    kind = annotators.get("spammer_kind", pd.Series([""] * n_workers)).to_numpy()
    bias = annotators.get("bias_label", pd.Series([-1] * n_workers)).to_numpy()
    label = np.empty(task.size, dtype=np.int64)
    for start in range(0, task.size, chunk_size):
        part = slice(start, start + chunk_size)
        t, w = task[part], worker_row[part]
        q = vote_distribution(perceived[t], difficulty[t], reliability[part])
        is_spam = spam[w]
        q[is_spam] = 1.0 / N_CLASSES
        biased = is_spam & (kind[w] == "biased")
        q[biased] *= 1.0 - SPAMMER_BIAS_STRENGTH
        q[np.flatnonzero(biased), bias[w[biased]]] += SPAMMER_BIAS_STRENGTH
        cdf = np.cumsum(q, axis=1)
        label[part] = np.minimum((cdf < uniform[part, None] * cdf[:, -1:]).sum(axis=1), N_CLASSES - 1)
    worker_ids = annotators["worker"].to_numpy()
    return pd.DataFrame({"task": task, "worker": worker_ids[worker_row], "label": label})


class CrowdTable(NamedTuple):
    """A vote table with whatever ground truth comes with it."""

    votes: pd.DataFrame
    """(task, worker, label), labels BASIC7 indices."""
    tasks: pd.DataFrame | None
    """Indexed by task: ``true_label``, ``difficulty`` (None for a table without truth)."""
    workers: pd.DataFrame | None
    """Indexed by worker: ``reliability``, ``is_spammer`` (None for a table without truth)."""
    source: str
    """Where the votes came from, in words."""


def simulate_crowd(n_tasks, votes_per_task=40, spammer_fraction=0.1, n_workers=315, mean_difficulty=0.6, seed=0):
    """Perceived emotions, annotators and votes in one call, as a :class:`CrowdTable`."""
    seeds = np.random.SeedSequence(int(seed)).spawn(3)
    perceived = simulate_perceived(n_tasks, mean_difficulty=mean_difficulty, rng=np.random.default_rng(seeds[0]))
    annotators = simulate_annotators(n_workers, spammer_fraction, rng=np.random.default_rng(seeds[1]))
    votes = simulate_votes(perceived.distribution, annotators, votes_per_task, perceived.difficulty,
                           rng=np.random.default_rng(seeds[2]))
    tasks = pd.DataFrame({"true_label": perceived.label, "difficulty": perceived.difficulty, "kind": perceived.kind})
    tasks.index.name = "task"
    source = (f"simulated: {n_tasks:,} images × {votes_per_task} votes from {n_workers} annotators "
              f"({spammer_fraction:.0%} spammers), seed {seed}")
    return CrowdTable(votes, tasks, annotators.set_index("worker"), source)


def find_votes(data_root):
    """The vote table under ``data_root``'s RAF-DB folder (``crowd/votes.csv`` of a synthetic
    copy, or a ``votes.csv`` a user put there), or None (noted for the runner: simulated votes
    then stand in for real ones, see :func:`fercore.results.note`)."""
    from fercore.datasets import locate
    from fercore.results import note

    try:
        folder = locate(data_root, "rafdb")
    except FileNotFoundError as error:
        note("simulated", "crowd votes", f"no vote table, the crowd is simulated ({error})")
        return None
    for path in (folder / "crowd" / "votes.csv", folder / "votes.csv"):
        if path.is_file():
            return path
    note("simulated", "crowd votes", f"no vote table ({folder / 'crowd' / 'votes.csv'} or {folder / 'votes.csv'}); "
                                     "the crowd is simulated")
    return None


def check_votes(votes: pd.DataFrame, path) -> None:
    """Refuse a vote table with a label that is not a BASIC7 index (``5.7``, ``9``, empty) or a
    worker voting twice on one task; errors name the file and line."""
    from fercore.datasets.base import csv_line, format_error

    if votes.empty:
        raise format_error(path, "no votes after the header")
    labels = pd.to_numeric(votes["label"], errors="coerce")
    bad = ~labels.isin(range(7))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise format_error(path, f"vote label {votes['label'].iloc[row]!r} is not a class index 0..6", csv_line(row))
    twice = votes.duplicated(["task", "worker"]).to_numpy()
    if twice.any():
        row = int(np.flatnonzero(twice)[0])
        task, worker = votes["task"].iloc[row], votes["worker"].iloc[row]
        first = int(np.flatnonzero(((votes["task"] == task) & (votes["worker"] == worker)).to_numpy())[0])
        raise format_error(path, f"worker {worker!r} votes on task {task!r} twice (line {csv_line(first)} and here)",
                           csv_line(row))


def load_crowd_table(path) -> CrowdTable:
    """Read a ``task, worker, label`` CSV; next to it, ``tasks.csv`` (``task``, ``true_label``,
    ``difficulty``) and ``workers.csv`` (``worker``, ``reliability``, ``is_spammer``), as a synthetic
    copy writes them, supply the ground truth when present."""
    from fercore.datasets.base import read_csv_checked

    path = Path(path)
    votes = read_csv_checked(path, ["task", "worker", "label"], "vote table")[["task", "worker", "label"]]
    check_votes(votes, path)
    tasks = workers = None
    if (path.parent / "tasks.csv").is_file() and (path.parent / "workers.csv").is_file():
        tasks = read_csv_checked(path.parent / "tasks.csv", ["task", "true_label", "difficulty"], "task table")
        workers = read_csv_checked(path.parent / "workers.csv", ["worker", "reliability", "is_spammer"], "worker table")
        tasks, workers = tasks.set_index("task"), workers.set_index("worker")
    truth = "with ground truth" if tasks is not None else "no ground truth"
    return CrowdTable(votes, tasks, workers, f"{path} ({len(votes):,} votes, {truth})")


def aggregator_sweep(n_tasks, spammer_fractions, votes_per_task, seeds=(0,), n_workers=315, mean_difficulty=0.6):
    """Label accuracy against the true labels of each aggregator as the crowd changes.

    For every spammer fraction × votes per image × seed (``seeds``: an iterable of ints), simulate a crowd
    (:func:`simulate_crowd`) and score: ``em`` (GLAD posterior, :class:`fercore.crowd.GLAD`),
    ``majority_vote``, ``dawid_skene``, and the papers' reliability-weighted vote (argmax of
    :func:`fercore.ground_truth.ground_truth_vectors`) with α clipped at 0 (``alpha_vote``) and signed
    (``alpha_vote_signed``). Returns a long DataFrame: spammer_fraction, votes_per_task, seed,
    method, accuracy, seconds.
    """
    import time

    from fercore import crowd, ground_truth
    from fercore.progress import progress

    rows = []
    grid = [(f, v, s) for f in spammer_fractions for v in votes_per_task for s in seeds]
    for fraction, votes, seed in progress(grid, desc="crowd sweep"):
        table = simulate_crowd(n_tasks, votes, fraction, n_workers, mean_difficulty,
                               seed=seed * 1_000_003 + int(round(fraction * 1000)) * 101 + int(votes))
        truth = table.tasks["true_label"].to_numpy()
        scores = {}
        for method, model in (("em", crowd.GLAD()), ("majority_vote", crowd.MajorityVote(random_state=seed)),
                              ("dawid_skene", crowd.DawidSkene())):
            start = time.perf_counter()
            model.fit(table.votes)
            scores[method] = (model.labels_.to_numpy(), time.perf_counter() - start)
            if method == "em":
                alphas = model.alphas_
        for method, clip in (("alpha_vote", True), ("alpha_vote_signed", False)):
            g = ground_truth.ground_truth_vectors(table.votes, alphas, clip_negative=clip).to_numpy()
            scores[method] = (g.argmax(axis=1), np.nan)
        for method, (labels, seconds) in scores.items():
            rows.append({"spammer_fraction": fraction, "votes_per_task": votes, "seed": seed, "method": method,
                         "accuracy": float((labels == truth).mean()), "seconds": seconds})
    return pd.DataFrame(rows)
