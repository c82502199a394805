"""fercore: the library behind the FER-in-the-wild reproducible compendium."""

__version__ = "0.1.0"
