"""The training recipe every deep chapter shares, identical for every arm of a comparison.

* **Augmentation**: random square crops of each face drawn for a whole batch at once from uint8
  faces held as one tensor (RAF-ML §6.2: 90×90 crops of the 100×100 faces "for the purpose of
  data augmentation"; SJMT §4: padding and random cropping), optionally mirrored left–right with
  probability ½ (:func:`fercore.inputs.crop_flip`; no paper mentions mirroring, so ``full``
  leaves it off). The test input is the centre crop, unmirrored.
* **Schedule**: :class:`fercore.train.Schedule` with a linear warm-up and either the paper's
  step drops (``shape="step"``) or a cosine decay (``shape="cosine"``); :func:`recipe_schedule`
  builds it from a profile's named parameters, whose paper values (no warm-up, the paper's
  drops) the ``full`` profile keeps.
* **Threads**: :func:`use_threads`. Small CPU nets on a shared machine train several times faster
  on one thread than on two (measured in ``tests/benchmarks/bench_recipe.py``): two threads wait
  for each other whenever another process takes a core.
* **Layout and precision**: every net trains channels-last, and under bf16 autocast on the CPU when
  the chapter's ``cpu_precision`` is ``bf16``, or ``auto`` on a CPU with native bf16
  (:func:`fercore.train.use_cpu_precision`), as on a GPU; weights, optimizer state and the losses
  stay fp32.
"""

import torch

from fercore.train import Schedule


def recipe_schedule(iterations, lr, *, drops=(), warmup=0.0, shape="step", gamma=0.1,
                    momentum=0.9, weight_decay=0.0):
    """The shared :class:`fercore.train.Schedule`: ``warmup`` (a fraction of ``iterations``) of
    linear warm-up, then ``lr`` divided by ``1/gamma`` at each of ``drops`` (fractions of
    ``iterations``, the papers' multistep policy) or, with ``shape="cosine"``, a cosine decay to 0.
    """
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be a fraction of the iterations in [0, 1), got {warmup}")
    if any(not 0 < d < 1 for d in drops):
        raise ValueError(f"drops must be fractions of the iterations in (0, 1), got {list(drops)}")
    milestones = tuple(max(1, round(d * iterations)) for d in drops) if shape == "step" else ()
    return Schedule(iterations=iterations, lr=lr, momentum=momentum, milestones=milestones,
                    gamma=gamma, weight_decay=weight_decay, warmup=round(warmup * iterations),
                    shape=shape)


def use_threads(threads):
    """Run torch's CPU kernels on ``threads`` threads (0: leave torch's default); returns the
    number now in use."""
    if threads < 0:
        raise ValueError(f"threads must be 0 (torch's default) or positive, got {threads}")
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
