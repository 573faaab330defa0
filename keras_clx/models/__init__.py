"""keras_clx.models."""
