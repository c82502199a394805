"""Loss functions as ``nn.Module``s; one module per paper's loss, re-exported here."""

from fercore.losses.bimanifold import BiManifoldLoss
from fercore.losses.center import CenterLoss
from fercore.losses.locality import LocalityPreservingLoss
from fercore.losses.soft_ce import SoftCrossEntropy

__all__ = [
    "BiManifoldLoss",
    "CenterLoss",
    "LocalityPreservingLoss",
    "SoftCrossEntropy",
]
