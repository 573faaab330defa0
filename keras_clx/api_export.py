"""`clx_export`: marks a public class and registers it for `.keras` serialization."""

import keras


def clx_export(path):
    """Registers the decorated class as `keras_clx>ClassName` (keras-hub's pattern)."""

    def decorator(symbol):
        symbol._clx_export_path = path
        return keras.saving.register_keras_serializable(package="keras_clx")(symbol)

    return decorator
