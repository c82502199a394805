"""Network architectures; one module per family, re-exported here."""

from fercore.nets.basedcnn import BaseDCNN

__all__ = [
    "BaseDCNN",
]
