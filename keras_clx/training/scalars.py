"""TensorBoard scalars of a run (`train.tensorboard=true`), on every backend.

`keras.callbacks.TensorBoard` writes through `tf.summary.scalar`, which needs the
`tensorboard` package; this callback writes the same event files with TensorFlow's own
`tf.summary.write` and the scalars plugin's metadata, so TensorBoard shows them. As
Keras's callback: `<dir>/train/` gets `epoch_<key>` for every numeric entry of the
epoch logs (losses, clean/perturbed losses, `weight_ess`, per-language dev scores,
self-training selections) plus `epoch_learning_rate`; `<dir>/validation/` the `val_`
entries without their prefix.
"""

import math
import pathlib

import keras


def _metadata():
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    return metadata.SerializeToString()


class ScalarLogger(keras.callbacks.Callback):
    """Writes the epoch logs as TensorBoard scalars under `log_dir`."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = pathlib.Path(log_dir)
        self._writers = {}

    def _writer(self, name):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(str(self.log_dir / name))
        return self._writers[name]

    def _write(self, name, values, step):
        import tensorflow as tf

        metadata = _metadata()
        with self._writer(name).as_default():
            for tag, value in values.items():
                tf.summary.write(f"epoch_{tag}", tf.constant(value, tf.float32), step=step, metadata=metadata)

    def on_epoch_end(self, epoch, logs=None):
        values = {}
        for key, value in (logs or {}).items():
            try:
                value = float(keras.ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                values[key] = value
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            values["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        self._write("train", {k: v for k, v in values.items() if not k.startswith("val_")}, epoch)
        validation = {k[4:]: v for k, v in values.items() if k.startswith("val_")}
        if validation:
            self._write("validation", validation, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
