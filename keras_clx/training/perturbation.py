"""Embedding perturbations (paper 000, §2, Eq. 1-2), in backend-neutral `keras.ops`.

Eq. 1 trains on the loss at perturbed embeddings,

    L_adv(x, y) = L(f(e + r_adv; θ), y),   r_adv = argmax_{‖r‖₂ ≤ ε} L(f(e + r; θ̃), y),

where θ̃ is θ without gradient. Eq. 2 linearises the loss around e:

    r_adv ≈ ε · g / ‖g‖₂,   g = ∇_e L(f(e; θ̃), y).

Here `e` is the output of the token embedding, shape `(batch, length, hidden)`, and
`mask` its padding mask `(batch, length)`: padding never carries perturbation and
never enters a norm. The norm scope is an option the paper leaves open:

- `"example"` (default): one L2 norm per example over its tokens × hidden units, so
  every example is pushed by exactly ε;
- `"batch"`: one norm for the whole batch (what the paper's reference code does).

The size ε is absolute in the paper. `radius` makes it scale-free: in the
`"relative"` mode (keras-clx's default) the ball's radius is ε·‖e‖₂, with ‖e‖₂ the
norm of the (unpadded, unperturbed) embeddings over the same scope — per example
or per batch — held constant. ε = 0.2 then pushes every example by 20% of its own
embeddings, whatever the backbone's embedding scale. Every function below takes a
radius that is a number or a tensor of `l2_norm`'s shape.

Beyond Eq. 2: the paper's random baseline (a Gaussian direction scaled to ε), the
projection for the K-step projected-gradient variant, and the pieces of virtual
adversarial training (VAT, Miyato et al.), whose direction is the gradient of the
KL divergence to the clean prediction: it needs no labels. The gradients themselves
come from the backend's train step (`keras_clx/training/steps/`).
"""

import keras
from keras import ops

NORMS = ("example", "batch")
EPSILON_MODES = ("relative", "absolute")
_TINY = 1e-12


def _mask(values, mask):
    if mask is None:
        return values
    return values * ops.cast(mask, values.dtype)[:, :, None]


def l2_norm(values, mask=None, norm="example"):
    """‖values‖₂ over the unmasked tokens: shape `(batch, 1, 1)` per example, `()` per batch."""
    values = _mask(ops.cast(values, "float32"), mask)
    axes = tuple(range(1, len(values.shape))) if norm == "example" else None
    return ops.sqrt(ops.sum(ops.square(values), axis=axes, keepdims=norm == "example"))


def radius(epsilon, embeddings, mask=None, norm="example", mode="relative"):
    """The perturbation's L2 radius: ε (`"absolute"`) or ε·‖e‖₂ (`"relative"`), constant.

    Shape `(batch, 1, 1)` per example and `()` per batch in the relative mode; the
    plain number ε in the absolute mode.
    """
    if mode not in EPSILON_MODES:
        raise ValueError(f"mode must be one of {EPSILON_MODES}, got {mode!r}")
    if mode == "absolute":
        return epsilon
    return epsilon * ops.stop_gradient(l2_norm(embeddings, mask, norm))


def scale_to_norm(direction, epsilon, mask=None, norm="example"):
    """ε · d / ‖d‖₂ with padding zeroed; a zero direction stays zero (ε may be a `radius`).

    `d` is first divided by its largest magnitude so that tiny gradients neither
    underflow in the square nor lose precision (as Miyato et al.'s implementation).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    d = _mask(ops.cast(direction, "float32"), mask)
    axes = tuple(range(1, len(d.shape))) if norm == "example" else None
    d = d / (ops.max(ops.abs(d), axis=axes, keepdims=norm == "example") + _TINY)
    return epsilon * d / ops.maximum(l2_norm(d, None, norm), _TINY)


def adversarial_perturbation(gradient, epsilon, mask=None, norm="example"):
    """Eq. 2: r_adv = ε · g / ‖g‖₂, from the loss gradient `g` at the embeddings."""
    return scale_to_norm(ops.stop_gradient(ops.convert_to_tensor(gradient)), epsilon, mask, norm)


def random_perturbation(shape, epsilon, mask=None, norm="example", seed=None):
    """The paper's baseline: a Gaussian direction scaled to ‖r‖₂ = ε."""
    return scale_to_norm(keras.random.normal(shape, seed=seed), epsilon, mask, norm)


def project(perturbation, epsilon, mask=None, norm="example"):
    """Projection onto the ε-ball: r · min(1, ε / ‖r‖₂)."""
    r = _mask(ops.cast(perturbation, "float32"), mask)
    return r * ops.minimum(1.0, epsilon / ops.maximum(l2_norm(r, None, norm), _TINY))


def projected_step(perturbation, gradient, epsilon, step_size, mask=None, norm="example"):
    """One step of the K-step variant: r ← Π_ε(r + α · g / ‖g‖₂)."""
    step = scale_to_norm(ops.stop_gradient(ops.convert_to_tensor(gradient)), step_size, mask, norm)
    return project(perturbation + step, epsilon, mask, norm)


def kl_divergence(reference_logits, logits):
    """KL(p ‖ q) over the last axis, p = softmax(reference_logits) held constant.

    The VAT objective: its gradient at e + ξd gives the power-iteration direction,
    its value at e + r_vat the loss.
    """
    reference_logits = ops.stop_gradient(ops.cast(ops.convert_to_tensor(reference_logits), "float32"))
    logits = ops.cast(logits, "float32")
    log_p = ops.log_softmax(reference_logits, axis=-1)
    log_q = ops.log_softmax(logits, axis=-1)
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
