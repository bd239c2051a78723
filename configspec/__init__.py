"""configspec: measure, model and choose speculative-decoding configurations."""

__version__ = "0.1.0"
