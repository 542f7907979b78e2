"""Card payments for Django shops through the JCC payment gateway."""

__version__ = "0.1.0"
