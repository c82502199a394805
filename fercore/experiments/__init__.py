"""Experiments: what each chapter of the book runs, one module per chapter id.

A chapter's module holds its data set-up (through :func:`fercore.datasets.load`, so a real copy
under ``data_root`` is read like the synthetic one), its run grid as unit functions for
:func:`fercore.seeds.run_over_seeds`, and the tables it builds. The methods it wires together
(nets, losses, batch streams, estimators) live outside this package and know nothing of it.
"""
