"""The transfer train step on PyTorch: `torch.autograd.grad` once per backward pass.

Each backward asks for every gradient it must give at once (the trainables and,
for the clean pass, g at the embeddings), so no graph is kept (`retain_graph`) and
no `.grad` accumulates.
"""

import torch
from keras import tree

from keras_clx.training.steps import common


def _detach(value):
    return value.detach() if isinstance(value, torch.Tensor) else value


class Autodiff:
    """`forward` / `value_and_grad` over the model's live variables (see `common`)."""

    def __init__(self, model):
        self.model = model

    def forward(self, fn):
        # inference_mode skips autograd bookkeeping that no_grad keeps (2-3 ms of a tiny
        # model's 11 ms forward); the clones make the outputs usable in the backward.
        with torch.inference_mode():
            out = fn()
        return tree.map_structure(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, out)

    def value_and_grad(self, fn, point=None, variables=True):
        if point is not None:
            point = point.detach().requires_grad_(True)
        trainable = [v.value for v in self.model.trainable_variables] if variables else []
        value, aux = fn(point)
        sources = ([point] if point is not None else []) + trainable
        grads = list(torch.autograd.grad(value, sources, allow_unused=True))
        point_grad = grads.pop(0) if point is not None else None
        return (value.detach(), tree.map_structure(_detach, aux)), point_grad, (grads if variables else None)

    @staticmethod
    def add(a, b, weight):
        return a * weight + b if weight != 1 else a + b


def wrap_train_function(model, function):
    """Under `torch.compile`, turns off buffer donation while the step runs (and compiles):
    a step with more than one backward still needs the buffers. The setting is restored
    after each call, so nothing else in the process sees it."""
    if not model.jit_compile:
        return function
    import torch._functorch.config

    def train_function(data):
        with torch._functorch.config.patch(donated_buffer=False):
            return function(data)

    return train_function


def train_step(model, step, data):
    x, y, sample_weight = common.unpack(data)
    result = common.compute_step(model, step.config, Autodiff(model), x, y, sample_weight, step.seed)
    with torch.no_grad():
        model.optimizer.apply(result.grads, model.trainable_variables)
    return common.update_metrics(model, result, y, sample_weight)
