"""The transfer train step on JAX: stateless, state in and state out.

Each pass runs the model inside a `StatelessScope` that maps its variables to the
step's values; `jax.value_and_grad` differentiates with respect to the trainable
values and the embedding perturbation. Non-trainable state (dropout seeds) is
threaded from pass to pass.
"""

import jax
from keras import tree
from keras.src.backend import StatelessScope

from keras_clx.training.steps import common


class Autodiff:
    """`forward` / `value_and_grad` over explicit variable values (see `common`)."""

    def __init__(self, model, trainable, non_trainable, optimizer_variables=None):
        self.model = model
        self.trainable = trainable
        self.non_trainable = non_trainable
        self.optimizer_mapping = []
        if optimizer_variables is not None and model.optimizer is not None:
            self.optimizer_mapping = list(zip(model.optimizer.variables, optimizer_variables))

    def _run(self, fn, trainable, *args):
        mapping = [
            *zip(self.model.trainable_variables, trainable),
            *zip(self.model.non_trainable_variables, self.non_trainable),
            *self.optimizer_mapping,
        ]
        with StatelessScope(state_mapping=mapping) as scope:
            out = fn(*args)
        non_trainable = []
        for variable, value in zip(self.model.non_trainable_variables, self.non_trainable):
            new = scope.get_current_value(variable)
            non_trainable.append(value if new is None else new)
        return out, non_trainable

    def forward(self, fn):
        out, self.non_trainable = self._run(fn, self.trainable)
        return tree.map_structure(jax.lax.stop_gradient, out)

    def value_and_grad(self, fn, point=None, variables=True):
        def pure(trainable, point):
            (value, aux), non_trainable = self._run(fn, trainable, point)
            return value, (aux, non_trainable)

        argnums = (0, 1) if (variables and point is not None) else (0 if variables else 1)
        (value, (aux, self.non_trainable)), grads = jax.value_and_grad(pure, argnums=argnums, has_aux=True)(
            self.trainable, point
        )
        if argnums == (0, 1):
            return (value, aux), grads[1], grads[0]
        return (value, aux), (None if variables else grads), (grads if variables else None)

    @staticmethod
    def add(a, b, weight):
        return a * weight + b if weight != 1 else a + b


def train_step(model, step, state, data):
    trainable, non_trainable, optimizer_variables, metrics_variables = state
    x, y, sample_weight = common.unpack(data)
    ad = Autodiff(model, trainable, non_trainable, optimizer_variables)
    result = common.compute_step(model, step.config, ad, x, y, sample_weight, step.seed)
    trainable, optimizer_variables = model.optimizer.stateless_apply(optimizer_variables, result.grads, trainable)
    mapping = list(zip(model.metrics_variables, metrics_variables))
    with StatelessScope(state_mapping=mapping) as scope:
        logs = common.update_metrics(model, result, y, sample_weight)
    new_metrics = []
    for variable, value in mapping:
        new = scope.get_current_value(variable)
        new_metrics.append(value if new is None else new)
    return logs, (trainable, ad.non_trainable, optimizer_variables, new_metrics)
