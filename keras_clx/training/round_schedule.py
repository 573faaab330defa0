"""The learning-rate schedule of self-training rounds: warm-up and cosine decay, restarted every round."""

import math

import keras

from keras_clx.api_export import clx_export


@clx_export("keras_clx.training.RoundSchedule")
class RoundSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up then cosine decay to 0 over one round; restarted every round.

    Each round is a fresh fine-tuning run: `SelfTrainingCallback` resets the
    optimizer (its step counter and moments) when a round starts and sets the
    round's length here, which grows with the training data. The length lives in
    an optimizer variable (`attach`) so that every backend reads the current
    value inside its compiled train step (JAX passes optimizer variables as state).

    Args:
        learning_rate: float. Peak learning rate.
        warmup_ratio: float. Share of each round spent warming up from 0.
        round_steps: int. Length of a round (in batches) before `set_round_steps` is called.
        accumulation_steps: int. Batches per optimizer update (gradient accumulation): the
            schedule counts updates, `ceil(round_steps / accumulation_steps)` per round.
    """

    def __init__(self, learning_rate, warmup_ratio=0.1, round_steps=1, accumulation_steps=1):
        self.learning_rate = float(learning_rate)
        self.warmup_ratio = float(warmup_ratio)
        self.accumulation_steps = max(1, int(accumulation_steps))
        self.round_steps = -(-int(round_steps) // self.accumulation_steps)
        self._steps = None

    def attach(self, optimizer):
        """Creates the round-length variable in `optimizer` (call once, before `fit`)."""
        self._steps = optimizer.add_variable(
            (), initializer=keras.initializers.Constant(self.round_steps), dtype="float32", name="round_steps"
        )
        return optimizer

    def set_round_steps(self, steps):
        self.round_steps = -(-int(steps) // self.accumulation_steps)
        if self._steps is not None:
            self._steps.assign(float(self.round_steps))

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        total = ops.maximum(self._steps if self._steps is not None else float(self.round_steps), 1.0)
        warmup = ops.floor(self.warmup_ratio * total)
        warm = self.learning_rate * step / ops.maximum(warmup, 1.0)
        progress = ops.clip((step - warmup) / ops.maximum(total - warmup, 1.0), 0.0, 1.0)
        decayed = self.learning_rate * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < warmup, warm, decayed)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "warmup_ratio": self.warmup_ratio,
            "round_steps": self.round_steps * self.accumulation_steps,
            "accumulation_steps": self.accumulation_steps,
        }


def round_optimizer(learning_rate, warmup_ratio=0.1, weight_decay=0.01, round_steps=1, **options):
    """AdamW on a `RoundSchedule`; returns `(optimizer, schedule)`. `options`: more AdamW
    arguments (`global_clipnorm`, `gradient_accumulation_steps`)."""
    schedule = RoundSchedule(learning_rate, warmup_ratio, round_steps, options.get("gradient_accumulation_steps") or 1)
    from keras_clx.training.optimization import AdamW

    optimizer = AdamW(schedule, weight_decay=weight_decay, **options)
    return schedule.attach(optimizer), schedule
