"""fercore: the library behind the FER-in-the-wild reproducible compendium.

Design notes
------------
Data flows one way: :mod:`fercore.synth` writes the synthetic datasets in the real datasets'
on-disk formats; :mod:`fercore.datasets` reads them, real or synthetic, by name under a data root
(:func:`fercore.datasets.load`); methods take arrays; experiments wire methods to data; the
chapter notebooks tell the story and call the experiments.

*Methods* are what a paper contributes and can be reused elsewhere; *experiments* are what a
chapter runs. They live apart:

- methods: :mod:`~fercore.nets` (networks), :mod:`~fercore.losses` (losses, each equation once),
  :mod:`~fercore.batches` (every batch stream), :mod:`~fercore.inputs` (every image↔tensor step),
  :mod:`~fercore.train` (the one training loop, :class:`~fercore.train.Trainer`), and the
  estimators built on them — :mod:`~fercore.deep`, :mod:`~fercore.adaptation`,
  :mod:`~fercore.multitask`, :mod:`~fercore.semantic`, and the scikit-learn estimators of
  :mod:`~fercore.classifiers`, :mod:`~fercore.multilabel` and :mod:`~fercore.features`
  (checked against scikit-learn's estimator contract); the crowd's side: the aggregators of
  :mod:`~fercore.crowd` (GLAD-EM), RAF's ground truth and subsets (:mod:`~fercore.ground_truth`)
  and the annotators' agreement (:mod:`~fercore.agreement`);
- experiments: :mod:`fercore.experiments.<chapter id> <fercore.experiments>` — a chapter's data
  set-up, run grid, tables, figures and the paper's numbers it compares with;
- seeds as data: :mod:`~fercore.seeds` runs a function over seeds and grid points into a tidy
  table (one row per setting and seed), stores each unit's rows so runs made elsewhere merge,
  and is the one place where means, standard deviations, ``mean ± sd`` text and the verdict that
  weighs a gap against the seed spread are computed;
- running: :mod:`~fercore.results` (every number under a stable key), :mod:`~fercore.parameters`
  (profiles and each chapter's parameters), :mod:`~fercore.run_state` (the cache: when a chapter
  runs again), :mod:`~fercore.runner` (papermill), :mod:`~fercore.book` (the book) and
  :mod:`~fercore.cli` (the ``fercore`` command).

A module has one job and imports only from the layers below it.
"""

__version__ = "0.1.0"
