"""Card payments for Django shops through the JCC payment gateway."""

__all__ = ["__version__"]

__version__ = "0.1.0"
