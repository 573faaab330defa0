"""Stops a run whose training loss is no longer finite (NaN or infinity).

`DivergenceGuard` raises `DivergenceError` (exit code 3 in the CLI) at the end
of the first step whose loss is not finite, naming the epoch, the step and the
settings most likely at fault. Raising, rather than `stop_training`, keeps the
run from saving a model or writing a report of a diverged fit.
"""

import math

import keras

from keras_clx.errors import DivergenceError

# The recipe fields that most often make a loss blow up, with their value when unset.
SUSPECTS = (("learning_rate", None), ("epsilon", None), ("dtype_policy", "float32"))


class DivergenceGuard(keras.callbacks.Callback):
    """Raises `DivergenceError` when the training loss becomes NaN or infinite.

    Args:
        hints: `{setting: value}` named in the error (e.g. `{"train.learning_rate": 0.5}`).
    """

    # The check only reads `logs`: Keras may run it off the training thread (JAX),
    # and the error surfaces at the next step or at the epoch's end.
    async_safe = True

    def __init__(self, hints=None):
        super().__init__()
        self.hints = dict(hints or {})
        self._epoch = 0

    @classmethod
    def from_recipe(cls, recipe):
        """A guard whose error names the recipe's learning rate, ε and dtype policy."""
        train = recipe.train
        hints = {f"train.{name}": getattr(train, name, None) or unset for name, unset in SUSPECTS}
        if getattr(train, "perturbation", "none") == "none":
            hints.pop("train.epsilon")
        return cls(hints)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = float(keras.ops.convert_to_numpy(loss))
        if math.isfinite(value):
            return
        steps = self.params.get("steps") if self.params else None
        where = f"epoch {self._epoch + 1}, step {batch + 1}" + (f" of {steps}" if steps else "")
        settings = ", ".join(
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}" for key, value in self.hints.items()
        )
        advice = f"; check {settings}" if settings else ""
        raise DivergenceError(
            f"training diverged: loss {value} at {where}{advice} "
            "(a lower learning rate usually helps); no model or report was written"
        )
