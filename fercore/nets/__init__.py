"""Network architectures; one module per family, re-exported here
(one import line per module)."""

from fercore.nets.basedcnn import BaseDCNN
from fercore.nets.resnet_cifar import ResNetCIFAR, resnet32, resnet110
from fercore.nets.autoencoder import AsymmetricAutoencoder, Critic
from fercore.nets.twobranch import TwoBranchNet
