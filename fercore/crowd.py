"""Crowd label aggregation: GLAD-EM, majority vote and Dawid–Skene over a vote table.

Every aggregator takes a crowd-kit style vote table: a DataFrame with columns ``task``, ``worker``
and ``label``, one row per vote, labels being class indices ``0..n_classes-1`` (BASIC7 indices in
RAF order, :mod:`fercore.labels`). Tasks and workers may be any hashable ids; results are indexed
by the sorted unique ids. Everything is vectorized over the sparse vote table with ``np.bincount``
(no Python loop over images or annotators), so 30,000 images × 40 votes take seconds.

References
----------
* RAF-DB: Li, Deng & Du, CVPR 2017, §3.1 "Reliability estimation", Algorithm 1.
* RAF-ML: Li & Deng, IJCV 2019, §3.2 (reliability estimation, its joint-probability equation).
* GLAD: Whitehill, Wu, Bergsma, Movellan & Ruvolo, NeurIPS 2009.
* Dawid & Skene, Applied Statistics 28(1), 1979.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import logsumexp
from sklearn.base import BaseEstimator

LOG_BETA_BOUND = 10.0
"""ln β is kept in [-10, 10] (matters only without a prior on ln β, where it can diverge)."""
MAX_NEWTON_STEP = 2.0
"""Largest change of one α or ln β in one Newton step."""


class Votes(NamedTuple):
    """A validated vote table encoded as integer codes."""

    tasks: pd.Index
    workers: pd.Index
    task: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    n_classes: int

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    def counts(self) -> np.ndarray:
        """(n_tasks, n_classes) number of votes per class."""
        flat = np.bincount(self.task * self.n_classes + self.label, minlength=self.n_tasks * self.n_classes)
        return flat.reshape(self.n_tasks, self.n_classes).astype(float)


def encode_votes(data, n_classes=7) -> Votes:
    """Validate a ``(task, worker, label)`` table and encode it as integer codes.

    Raises ``ValueError`` for a non-DataFrame, missing columns, an empty table, missing values,
    labels that are not integers in ``0..n_classes-1``, and a worker voting twice on one task
    (naming the first offending row).
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"votes must be a pandas DataFrame with task, worker, label; got {type(data).__name__}")
    missing = [c for c in ("task", "worker", "label") if c not in data.columns]
    if missing:
        raise ValueError(f"vote table is missing column(s) {missing}; it needs task, worker, label")
    if len(data) == 0:
        raise ValueError("vote table is empty")
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes}")
    n_classes = int(n_classes)
    for column in ("task", "worker", "label"):
        isna = data[column].isna().to_numpy()
        if isna.any():
            raise ValueError(f"vote table has a missing value in column {column!r} (row {data.index[isna][0]!r})")
    raw = data["label"].to_numpy()
    if raw.dtype.kind not in "iuf":
        raise ValueError(
            f"labels must be class indices 0..{n_classes - 1} (BASIC7 order), got dtype {raw.dtype} "
            f"(e.g. {raw[0]!r}); map names with fercore.labels.BASIC7.index"
        )
    label = raw.astype(np.int64)
    bad = (label != raw) | (label < 0) | (label >= n_classes)
    if bad.any():
        values = sorted(set(raw[bad].tolist()))[:5]
        raise ValueError(
            f"unknown label(s) {values} (first at row {data.index[bad][0]!r}); labels must be integers "
            f"0..{n_classes - 1}"
        )
    task, tasks = pd.factorize(data["task"], sort=True)
    worker, workers = pd.factorize(data["worker"], sort=True)
    key = task.astype(np.int64) * len(workers) + worker
    order = np.argsort(key, kind="stable")
    repeated = np.flatnonzero(np.diff(key[order]) == 0)
    if repeated.size:
        row = order[repeated[0] + 1]
        raise ValueError(
            f"worker {data['worker'].iloc[row]!r} voted twice on task {data['task'].iloc[row]!r} "
            f"(row {data.index[row]!r}); each worker may vote once per task"
        )
    return Votes(tasks, workers, task.astype(np.int64), worker.astype(np.int64), label, n_classes)


def _entropy(counts: np.ndarray) -> np.ndarray:
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)


def vote_entropy(data, n_classes=7) -> pd.Series:
    """Entropy (nats) of each task's vote distribution, -Σ_k p_k ln p_k (RAF-DB Algorithm 1)."""
    votes = encode_votes(data, n_classes)
    return pd.Series(_entropy(votes.counts()), index=votes.tasks, name="entropy")


def _split_ties(counts: np.ndarray) -> np.ndarray:
    """One-hot of each row's maximum, shared equally among tied maxima."""
    top = counts == counts.max(axis=1, keepdims=True)
    return top / top.sum(axis=1, keepdims=True)


def _argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    top = scores == scores.max(axis=1, keepdims=True)
    return np.argmax(top * rng.random(scores.shape), axis=1)


class _Aggregator(BaseEstimator):
    """crowd-kit's interface: ``fit(data)`` sets ``labels_`` and ``probas_``, indexed by task."""

    def fit_predict(self, data) -> pd.Series:
        return self.fit(data).labels_

    def fit_predict_proba(self, data) -> pd.DataFrame:
        return self.fit(data).probas_


class MajorityVote(_Aggregator):
    """Majority vote: each task's label is its most voted class, ties broken at random (seeded).

    ``probas_`` are the vote fractions.
    """

    def __init__(self, n_classes=7, random_state=0):
        self.n_classes = n_classes
        self.random_state = random_state

    def fit(self, data):
        votes = encode_votes(data, self.n_classes)
        counts = votes.counts()
        self.probas_ = pd.DataFrame(
            counts / counts.sum(axis=1, keepdims=True), index=votes.tasks, columns=range(votes.n_classes)
        )
        rng = np.random.default_rng(self.random_state)
        self.labels_ = pd.Series(_argmax_random_ties(counts, rng), index=votes.tasks, name="agg_label")
        return self


class DawidSkene(_Aggregator):
    """Dawid & Skene (1979): one full confusion matrix per worker, fitted by EM.

    The same algorithm as crowd-kit's ``DawidSkene`` (initialized from the vote fractions, confusion
    counts clipped at 1e-10 then normalized per true class over the labels the worker used, class
    priors re-estimated), vectorized.
    ``errors_[w, k, c]`` = p(worker w votes k | true class c); ``loss_history_`` is the negative
    marginal log-likelihood per vote after each iteration.
    """

    def __init__(self, n_classes=7, n_iter=100, tol=1e-7):
        self.n_classes = n_classes
        self.n_iter = n_iter
        self.tol = tol

    def fit(self, data):
        votes = encode_votes(data, self.n_classes)
        K, W = votes.n_classes, votes.n_workers
        counts = votes.counts()
        probas = counts / counts.sum(axis=1, keepdims=True)
        cell = votes.worker * K + votes.label
        # one row per task, one column per (worker, label): task j's votes as a sparse indicator
        indicator = sparse.csr_matrix((np.ones(len(cell)), (votes.task, cell)), shape=(votes.n_tasks, W * K))
        used = (np.bincount(cell, minlength=W * K) > 0).reshape(W, K, 1)
        self.loss_history_ = []
        previous = np.inf
        for iteration in range(self.n_iter):
            priors = probas.mean(axis=0)
            errors = np.asarray(indicator.T @ probas).reshape(W, K, K)
            errors = np.where(used, np.clip(errors, 1e-10, None), 0.0)
            errors /= errors.sum(axis=1, keepdims=True)
            log_errors = np.log(np.where(used, errors, 1.0)).reshape(W * K, K)
            logits = np.log(np.clip(priors, 1e-10, None)) + indicator @ log_errors
            marginal = logsumexp(logits, axis=1, keepdims=True)
            probas = np.exp(logits - marginal)
            loss = -marginal.sum() / len(votes.task)
            self.loss_history_.append(float(loss))
            if previous - loss < self.tol:
                break
            previous = loss
        self.n_iter_ = iteration + 1
        self.priors_ = pd.Series(probas.mean(axis=0), index=range(K), name="prior")
        self.errors_ = errors
        self.probas_ = pd.DataFrame(probas, index=votes.tasks, columns=range(K))
        self.labels_ = pd.Series(probas.argmax(axis=1), index=votes.tasks, name="agg_label")
        self.workers_ = votes.workers
        return self


def _log_sigmoid(x):
    """ln σ(x), stable for any x."""
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def _glad_x(votes, alpha, log_beta):
    """Per vote x = α_i β_j and ln σ(x)."""
    x = alpha[votes.worker] * np.exp(log_beta)[votes.task]
    return x, _log_sigmoid(x)


def _glad_log_prior(votes, labels_priors=None):
    K = votes.n_classes
    if labels_priors is None:
        return np.full(K, -np.log(K))
    p = np.asarray(labels_priors, dtype=float)
    if p.shape != (K,) or not (p > 0).all():
        raise ValueError(f"labels_priors must be {K} positive numbers, got {labels_priors!r}")
    return np.log(p / p.sum())


def glad_e_step(votes, alpha, log_beta, labels_priors=None):
    """GLAD E-step (RAF-DB Algorithm 1; RAF-ML §3.2): the posterior of each image's hidden label.

    Q_j(c) ∝ p(c) Π_i p(t_ij | c) with p(t_ij | c) = σ(α_i β_j) if t_ij = c, else
    (1 − σ(α_i β_j)) / (K − 1). Since ln σ(x) − ln(1 − σ(x)) = x,
    ln Q_j(c) = ln p(c) + Σ_{i: t_ij = c} (α_i β_j + ln(K − 1)) + (terms free of c).

    ``votes``: :func:`encode_votes` output; ``alpha`` per worker code; ``log_beta`` = ln β per task
    code; ``labels_priors``: p(c), uniform if None. Returns ``(posterior (n_tasks, K),
    log_likelihood)``, the latter ln p(t | α, β) summed over images.
    """
    return _glad_e_step(votes, *_glad_x(votes, alpha, log_beta), _glad_log_prior(votes, labels_priors))


def _glad_e_step(votes, x, log_sig, log_prior):
    K = votes.n_classes
    logits = log_prior + np.bincount(
        votes.task * K + votes.label, x + np.log(K - 1), minlength=votes.n_tasks * K
    ).reshape(votes.n_tasks, K)
    marginal = logsumexp(logits, axis=1, keepdims=True)
    # the c-free terms: Σ_i [ln(1 − σ(x)) − ln(K − 1)], with ln(1 − σ(x)) = ln σ(x) − x
    c_free = (log_sig - x).sum() - len(x) * np.log(K - 1)
    return np.exp(logits - marginal), float(marginal.sum() + c_free)


def _glad_block_terms(votes, alpha, log_beta, x, log_sig, p_correct, on_alpha):
    """Per-worker (``on_alpha``) or per-task terms of the M-step objective, their gradient and
    Fisher curvature with respect to α_i or b_j = ln β_j.

    The M-step objective (RAF-ML §3.2, expected complete log-likelihood under the posterior) is
    Σ_votes [p_v ln σ(x_v) + (1 − p_v)(ln(1 − σ(x_v)) − ln(K − 1))], p_v = Q_j(t_ij) the posterior
    that vote v is correct; up to constants each vote contributes ln σ(x_v) − (1 − p_v) x_v, whose
    derivative in x is p_v − σ_v, and ∂x/∂α_i = β_j, ∂x/∂b_j = x.
    """
    group, size = (votes.worker, votes.n_workers) if on_alpha else (votes.task, votes.n_tasks)
    value = np.bincount(group, log_sig - (1.0 - p_correct) * x, minlength=size)
    sig = np.exp(log_sig)
    residual = p_correct - sig
    curvature = sig * (1.0 - sig)
    dx = np.exp(log_beta)[votes.task] if on_alpha else x
    grad = np.bincount(group, residual * dx, minlength=size)
    fisher = -np.bincount(group, curvature * dx**2, minlength=size)
    return value, grad, fisher


def glad_m_step_gradient(votes, alpha, log_beta, posterior):
    """Gradient of the GLAD M-step objective (priors excluded) with respect to α and ln β:
    ∂Q/∂α_i = Σ_j (p_v − σ(α_i β_j)) β_j and ∂Q/∂ln β_j = Σ_i (p_v − σ(α_i β_j)) α_i β_j."""
    x, log_sig = _glad_x(votes, alpha, log_beta)
    p_correct = np.asarray(posterior)[votes.task, votes.label]
    grad_alpha = _glad_block_terms(votes, alpha, log_beta, x, log_sig, p_correct, True)[1]
    grad_log_beta = _glad_block_terms(votes, alpha, log_beta, x, log_sig, p_correct, False)[1]
    return grad_alpha, grad_log_beta


class GLAD(_Aggregator):
    """GLAD (Whitehill et al. 2009) fitted by EM, as in RAF-DB Algorithm 1 / RAF-ML §3.2.

    Model: p(t_ij = y_j) = σ(α_i β_j), α_i the reliability of annotator i, 1/β_j the difficulty
    of image j (β_j > 0), a wrong vote uniform over the other K − 1 classes, class prior
    ``labels_priors`` (uniform by default, fixed).

    * E-step: :func:`glad_e_step`.
    * M-step: ascent on the expected complete log-likelihood plus log-priors in α and ln β
      (gradient: :func:`glad_m_step_gradient`). Each M-step takes ``m_step_iter`` rounds of a
      diagonal Newton step on α (separable and concave given β), one on ln β, each halved where it
      would lower that worker's / task's term, and a move along α e^s, ln β − s (which leaves the
      likelihood unchanged) to the priors' optimum. Every EM iteration increases the log posterior.
    * Priors (as crowd-kit): α_i ~ N(μ, s²), ln β_j ~ N(μ, s²) with ``alpha_prior`` and
      ``log_beta_prior`` = (μ, s); crowd-kit's are (1, 1). ``None`` = no prior (maximum
      likelihood; ln β is then kept in [−10, 10], where unanimous images would otherwise diverge).

    Initializations (``init``):

    * ``"paper"``: RAF-DB Algorithm 1: hidden labels from majority vote (ties shared), α_i = 1,
      β_j = entropy H_j of image j's votes. In GLAD 1/β is the difficulty, so this makes the most
      ambiguous images the *easiest*.
    * ``"inverse_entropy"``: the consistent alternative, same but 1/β_j = H_j.
    * ``"crowdkit"``: crowd-kit's α_i = 1, ln β_j = 1, starting with an E-step.

    H_j is floored at ``entropy_floor`` (unanimous images have H = 0). EM stops when an iteration
    changes the log posterior per vote by less than ``tol``, or after ``n_iter`` iterations.

    Attributes: ``alphas_`` (Series per worker), ``betas_`` (Series per task: β itself; crowd-kit's
    ``betas_`` holds ln β), ``probas_`` (posteriors, task × class), ``labels_``, ``loss_history_``
    (negative log posterior per vote, at the start and after each iteration; decreasing),
    ``n_iter_``, ``converged_``.
    """

    def __init__(
        self,
        n_classes=7,
        init="paper",
        n_iter=100,
        tol=1e-6,
        m_step_iter=1,
        alpha_prior=(1.0, 1.0),
        log_beta_prior=(1.0, 1.0),
        labels_priors=None,
        entropy_floor=0.05,
    ):
        self.n_classes = n_classes
        self.init = init
        self.n_iter = n_iter
        self.tol = tol
        self.m_step_iter = m_step_iter
        self.alpha_prior = alpha_prior
        self.log_beta_prior = log_beta_prior
        self.labels_priors = labels_priors
        self.entropy_floor = entropy_floor

    @staticmethod
    def _prior(prior, name):
        if prior is None:
            return 0.0, 0.0
        try:
            mean, sd = (float(v) for v in prior)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be None or a (mean, sd) pair, got {prior!r}") from None
        if not sd > 0:
            raise ValueError(f"{name}: sd must be > 0, got {sd}")
        return mean, 1.0 / sd**2

    def _check_params(self):
        if self.init not in ("paper", "inverse_entropy", "crowdkit"):
            raise ValueError(f"init must be 'paper', 'inverse_entropy' or 'crowdkit', got {self.init!r}")
        if self.n_iter < 1 or self.m_step_iter < 1:
            raise ValueError("n_iter and m_step_iter must be >= 1")
        return self._prior(self.alpha_prior, "alpha_prior"), self._prior(self.log_beta_prior, "log_beta_prior")

    def _log_density(self, alpha, log_beta):
        """ln of the Gaussian priors on α and ln β."""
        total = 0.0
        for params, (mean, precision) in ((alpha, self._alpha_prior), (log_beta, self._beta_prior)):
            if precision:
                total += -0.5 * precision * ((params - mean) ** 2).sum()
                total += 0.5 * params.size * np.log(precision / (2 * np.pi))
        return total

    def _newton_block(self, votes, alpha, log_beta, x, log_sig, p_correct, on_alpha):
        """One safeguarded diagonal Newton step on α (given ln β) or on ln β (given α).

        ``x``, ``log_sig``: per-vote α_i β_j and ln σ at the current point. Returns the new
        (α, ln β, x, ln σ); a worker's (task's) step is halved while it would lower its term of
        the M-step objective.
        """
        params = alpha if on_alpha else log_beta
        mean, precision = self._alpha_prior if on_alpha else self._beta_prior
        value, grad, hess = _glad_block_terms(votes, alpha, log_beta, x, log_sig, p_correct, on_alpha)
        if not on_alpha:
            # exact second derivative in ln β (grad + Fisher term) where it is more negative
            hess = np.minimum(hess + grad, hess)
        value -= 0.5 * precision * (params - mean) ** 2
        grad -= precision * (params - mean)
        hess -= precision + 1e-9
        step = np.clip(-grad / hess, -MAX_NEWTON_STEP, MAX_NEWTON_STEP)
        for _ in range(30):
            trial = params + step
            if not on_alpha:
                trial = np.clip(trial, -LOG_BETA_BOUND, LOG_BETA_BOUND)
            point = (trial, log_beta) if on_alpha else (alpha, trial)
            trial_x, trial_log_sig = _glad_x(votes, *point)
            trial_value = _glad_block_terms(votes, *point, trial_x, trial_log_sig, p_correct, on_alpha)[0]
            trial_value -= 0.5 * precision * (trial - mean) ** 2
            worse = trial_value < value - 1e-10 * (1.0 + np.abs(value))
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        else:
            trial = np.where(worse, params, trial)
            point = (trial, log_beta) if on_alpha else (alpha, trial)
            trial_x, trial_log_sig = _glad_x(votes, *point)
        return (*point, trial_x, trial_log_sig)

    def _rescale(self, alpha, log_beta):
        """Move along α → α e^s, ln β → ln β − s, which leaves every α_i β_j (the likelihood)
        unchanged: s maximizes the log-priors (a 1-D Newton search on small arrays). Block
        coordinate steps crawl along this ridge otherwise."""
        (ma, pa), (mb, pb) = self._alpha_prior, self._beta_prior
        if not (pa and pb):
            return alpha, log_beta

        def prior(s):
            return -0.5 * pa * ((alpha * np.exp(s) - ma) ** 2).sum() - 0.5 * pb * ((log_beta - s - mb) ** 2).sum()

        s, best = 0.0, prior(0.0)
        for _ in range(20):
            a = alpha * np.exp(s)
            grad = -pa * ((a - ma) * a).sum() + pb * (log_beta - s - mb).sum()
            hess = -pa * (2 * a * a - ma * a).sum() - pb * log_beta.size
            step = -grad / hess if hess < 0 else np.sign(grad) * 0.1
            while prior(s + step) < best and abs(step) > 1e-12:
                step /= 2
            if abs(step) <= 1e-12:
                break
            s += step
            best = prior(s)
        return alpha * np.exp(s), log_beta - s

    def fit(self, data):
        votes = encode_votes(data, self.n_classes)
        self._alpha_prior, self._beta_prior = self._check_params()
        log_prior = _glad_log_prior(votes, self.labels_priors)
        alpha = np.ones(votes.n_workers)
        if self.init == "crowdkit":
            log_beta = np.ones(votes.n_tasks)
        else:
            counts = votes.counts()
            entropy = np.maximum(_entropy(counts), self.entropy_floor)
            log_beta = np.log(entropy) if self.init == "paper" else -np.log(entropy)
        x, log_sig = _glad_x(votes, alpha, log_beta)
        probas, log_likelihood = _glad_e_step(votes, x, log_sig, log_prior)
        if self.init != "crowdkit":
            probas = _split_ties(counts)
        n_votes = len(votes.task)
        objective = (log_likelihood + self._log_density(alpha, log_beta)) / n_votes
        self.loss_history_ = [-objective]
        self.converged_ = False
        for iteration in range(self.n_iter):
            p_correct = probas[votes.task, votes.label]
            for _ in range(self.m_step_iter):
                alpha, log_beta, x, log_sig = self._newton_block(votes, alpha, log_beta, x, log_sig, p_correct, True)
                alpha, log_beta, x, log_sig = self._newton_block(votes, alpha, log_beta, x, log_sig, p_correct, False)
                alpha, log_beta = self._rescale(alpha, log_beta)
            probas, log_likelihood = _glad_e_step(votes, x, log_sig, log_prior)
            previous, objective = objective, (log_likelihood + self._log_density(alpha, log_beta)) / n_votes
            self.loss_history_.append(-objective)
            if abs(objective - previous) < self.tol:
                self.converged_ = True
                break
        self.n_iter_ = iteration + 1
        self.alphas_ = pd.Series(alpha, index=votes.workers, name="alpha")
        self.betas_ = pd.Series(np.exp(log_beta), index=votes.tasks, name="beta")
        self.probas_ = pd.DataFrame(probas, index=votes.tasks, columns=range(votes.n_classes))
        self.labels_ = pd.Series(probas.argmax(axis=1), index=votes.tasks, name="agg_label")
        return self
