"""keras_clx.data."""
