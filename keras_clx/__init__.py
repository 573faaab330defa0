"""keras-clx: zero-shot cross-lingual text classification with Keras 3."""

__version__ = "0.1.0"
