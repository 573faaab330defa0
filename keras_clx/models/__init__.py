"""Backbones and classifiers."""

from keras_clx.models.backbones import build_backbone
from keras_clx.models.sequence_classifier import SequenceClassifier
from keras_clx.models.token_classifier import TokenClassifier

__all__ = ["SequenceClassifier", "TokenClassifier", "build_backbone"]
