"""keras_clx.training."""
