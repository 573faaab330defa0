"""keras_clx.evaluation."""
