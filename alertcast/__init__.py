"""alertcast: emergency alert broadcast console."""

__version__ = "0.1.0"
