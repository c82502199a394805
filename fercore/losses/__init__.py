"""Loss functions as ``nn.Module``s; one module per paper's loss, re-exported here
(one import line per module)."""

from fercore.losses.bimanifold import BiManifoldLoss
from fercore.losses.center import CenterLoss
from fercore.losses.locality import LocalityPreservingLoss
from fercore.losses.soft_ce import SoftCrossEntropy
from fercore.losses.mmd import MKMMDLoss, mk_mmd
from fercore.losses.entropy import EntropyLoss
from fercore.losses.selective import SelectiveSigmoidCrossEntropy
from fercore.losses.semantic import (FocalLoss, MultiScaleReconstructionLoss, NeighbourhoodAwareLoss,
                                     PerceptualReconstructionLoss, WassersteinCriticLoss,
                                     WassersteinGeneratorLoss)
