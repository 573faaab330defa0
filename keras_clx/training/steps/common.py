"""The transfer train step, written once over a backend's `Autodiff`.

A backend module (`tensorflow.py`, `jax.py`, `torch.py`) supplies an object with

    forward(fn)                              -> fn(), no gradient (state threaded on JAX)
    value_and_grad(fn, point, variables)     -> (value, aux), ∂value/∂point, ∂value/∂trainables
    add(a, b, weight)                        -> weight · a + b for two gradients

where `fn(point) -> (value, aux)`; `point` is an additive perturbation of the
embeddings (or `None`), and `variables=False` skips the trainable gradients. Every
pass below is one call of these, so the cost of a step can be read off the code:

- adversarial: clean forward + backward (θ-gradient and g = ∂L/∂e together), then
  the perturbed forward + backward: 2 forward and 2 backward passes (K - 1 more of
  each, with respect to r only, for `perturbation_steps=K`);
- random: the same without g;
- virtual: clean forward + backward, one inference forward for the reference
  prediction, `perturbation_steps` power iterations (forward + backward w.r.t. r) and the
  perturbed forward + backward;
- instance weighting adds one forward of the target batch, without backward;
- every perturbation adds one embedding lookup (no encoder pass) for ‖e‖₂, the
  scale of the relative ε and of the tracked `perturbation_ratio`.
"""

import dataclasses

from keras import ops, tree

from keras_clx.errors import ClxError
from keras_clx.training import perturbation as perturb
from keras_clx.training import weighting


def unpack(data):
    """`(x, y, sample_weight)` of a Keras batch."""
    from keras.utils import unpack_x_y_sample_weight

    return unpack_x_y_sample_weight(data)


def split_batch(x):
    """`(source, target)` of a paired batch `{"source": x, "target": x_t}`; `(x, None)` otherwise."""
    if isinstance(x, dict) and "source" in x:
        return x["source"], x.get("target")
    return x, None


def scale_for_distribution(loss):
    """The loss a replica differentiates (1/replicas under a `tf.distribute` strategy), as Keras's."""
    from keras.src.losses.loss import scale_loss_for_distribution

    return scale_loss_for_distribution(loss)


@dataclasses.dataclass
class StepResult:
    """What a backend needs after the passes: gradients to apply and values to track."""

    loss: object
    logits: object
    source: dict
    grads: list
    tracked: dict


def special_token_ids(model):
    """Ids of the tokens the packer adds ([CLS], [SEP]; <s>, </s>), from the model's tokenizer."""
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    names = ("cls_token_id", "sep_token_id", "start_token_id", "end_token_id")
    return sorted({i for i in (getattr(tokenizer, name, None) for name in names) if i is not None})


def perturbation_mask(model, config, x):
    """Where r may be non-zero: the unpadded positions, without the special tokens unless
    `config.perturb_special_tokens` (they are not words: see docs/training.md)."""
    mask = x.get("padding_mask")
    ids = [] if config.perturb_special_tokens else special_token_ids(model)
    if not ids:
        return mask
    token_ids = x["token_ids"]
    keep = ops.ones_like(token_ids, "bool") if mask is None else ops.cast(mask, "bool")
    for i in ids:
        keep = ops.logical_and(keep, ops.not_equal(token_ids, i))
    return keep


def embedding_zeros(model, x):
    shape = (*ops.shape(x["token_ids"]), model.backbone.hidden_dim)
    return ops.zeros(shape, "float32")


def _forward(model, x, r, training):
    embeddings = model.embed(x, training=training)
    if r is not None:
        embeddings = embeddings + ops.cast(r, embeddings.dtype)
    return model.classify_embeddings(embeddings, x, training=training)


def _scale(model, loss):
    loss = scale_for_distribution(loss)
    if model.optimizer is not None:
        loss = model.optimizer.scale_loss(loss)
    return loss


def _weighted_loss(model, y, logits, w):
    return ops.sum(w * ops.cast(model.per_example_loss(y, logits), "float32"))


def _per_example_kl(reference_logits, logits, mask):
    kl = perturb.kl_divergence(reference_logits, logits)
    if len(kl.shape) == 1:
        return kl
    mask = ops.cast(mask, "float32")  # token logits: mean over the unpadded tokens
    return ops.sum(kl * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


def _uniform(x):
    n = ops.shape(x["token_ids"])[0]
    return ops.ones((n,), "float32") / ops.cast(n, "float32")


def example_weights(config, source, features, target_features, sample_weight):
    """Per-example loss weights: instance weights (or 1/n) times `sample_weight`; constant."""
    if config.weighting == "none":
        w = _uniform(source)
    else:
        w = weighting.instance_weights(features, target_features, config.weighting)
    if sample_weight is not None:
        w = w * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
    return ops.stop_gradient(w)


def loss_objective(model, x, y, w, training, scale=True):
    """`r -> (Σ w_i L_i as the optimizer scales it, Σ w_i L_i)` at the embeddings of `x` + r."""

    def objective(r):
        logits, _ = _forward(model, x, r, training)
        loss = _weighted_loss(model, y, logits, w)
        return (_scale(model, loss) if scale else loss), loss

    return objective


def embedding_scale(model, config, ad, x, mask):
    """‖e‖₂ of batch `x`'s unperturbed embeddings over `mask`, per example or per batch.

    One embedding lookup without gradient (the token embedding has no dropout).
    """
    embeddings = ad.forward(lambda: model.embed(x, training=False))
    return perturb.l2_norm(embeddings, mask, config.norm)


def radii(config, scale):
    """`(ε, α)` as L2 radii: multiplied by ‖e‖₂ (`scale`) in the relative mode."""
    if config.epsilon_mode == "absolute":
        return config.epsilon, config.step_size
    return config.epsilon * scale, config.step_size * scale


def perturbation_size(r, scale, mask, norm):
    """Tracked sizes of r: mean ‖r‖₂ and mean ‖r‖₂ / ‖e‖₂ (per example or per batch)."""
    size = perturb.l2_norm(r, mask, norm)
    return {
        "perturbation_norm": ops.mean(size),
        "perturbation_ratio": ops.mean(size / ops.maximum(scale, 1e-12)),
    }


def adversarial_direction(model, config, ad, x, y, w, gradient, training, scale=True, mask=None, size=None):
    """Eq. 2 from the clean gradient, then `perturbation_steps - 1` projected-gradient steps.

    `size`: ‖e‖₂ of `x` (computed when not given); `mask`: where r may be non-zero.
    """
    mask = perturbation_mask(model, config, x) if mask is None else mask
    size = embedding_scale(model, config, ad, x, mask) if size is None else size
    epsilon, step_size = radii(config, size)
    r = perturb.adversarial_perturbation(gradient, epsilon, mask, config.norm)
    objective = loss_objective(model, x, y, w, training, scale)
    for _ in range(config.perturbation_steps - 1):
        _, g, _ = ad.value_and_grad(objective, r, variables=False)
        r = perturb.projected_step(r, g, epsilon, step_size, mask, config.norm)
    return r


def random_direction(model, config, ad, x, seed, mask=None, size=None):
    """The paper's baseline: a Gaussian direction scaled to the radius."""
    mask = perturbation_mask(model, config, x) if mask is None else mask
    size = embedding_scale(model, config, ad, x, mask) if size is None else size
    shape = (*ops.shape(x["token_ids"]), model.backbone.hidden_dim)
    epsilon, _ = radii(config, size)
    return ad.forward(lambda: perturb.random_perturbation(shape, epsilon, mask, config.norm, seed))


def virtual_direction(model, config, ad, x, w, reference_logits, seed, mask=None, size=None):
    """VAT: power iteration(s) on KL(p ‖ q(e + ξd)) in inference mode; no labels used.

    The probe ξ is absolute (a finite-difference step); the final r has the radius.
    """
    mask = perturbation_mask(model, config, x) if mask is None else mask
    size = embedding_scale(model, config, ad, x, mask) if size is None else size
    shape = (*ops.shape(x["token_ids"]), model.backbone.hidden_dim)
    d = ad.forward(lambda: perturb.random_perturbation(shape, config.xi, mask, config.norm, seed))

    def divergence(r):
        logits, _ = _forward(model, x, r, training=False)
        return ops.sum(w * _per_example_kl(reference_logits, logits, x.get("padding_mask"))), None

    for _ in range(config.perturbation_steps):
        _, g, _ = ad.value_and_grad(divergence, d, variables=False)
        d = perturb.scale_to_norm(g, config.xi, mask, config.norm)
    epsilon, _ = radii(config, size)
    return perturb.scale_to_norm(d, epsilon, mask, config.norm)


def combine_gradients(clean_weight, clean, perturbed, add):
    """clean_weight · clean + perturbed, gradient by gradient (`add(a, b, weight)`: the backend's)."""
    if clean is None:
        return perturbed
    return [b if a is None else (a if b is None else add(a, b, clean_weight)) for a, b in zip(clean, perturbed)]


def compute_step(model, config, ad, x, y, sample_weight, seed=None):
    """Runs the passes of one transfer step; the backend applies `grads` and the metrics."""
    x, y, sample_weight = tree.map_structure(
        lambda v: None if v is None else ops.convert_to_tensor(v), (x, y, sample_weight)
    )
    source, target = split_batch(x)
    tracked = {}

    # === Target batch: one forward, no backward ===
    target_logits = target_features = None
    if config.weighting != "none" or (config.perturbation == "virtual" and target is not None):
        if target is None:
            raise ClxError(
                "instance weighting needs paired batches {'source': x, 'target': x_target}; "
                "build them with keras_clx.data.pipeline.paired_dataset"
            )
        target_logits, target_features = ad.forward(
            lambda: model.classify(target, training=not config.target_inference_mode)
        )

    # === Clean pass: θ-gradient and g = ∂L/∂e from one backward ===
    def clean_objective(r):
        logits, features = _forward(model, source, r, training=True)
        w = example_weights(config, source, features, target_features, sample_weight)
        loss = _weighted_loss(model, y, logits, w)
        return _scale(model, loss), (loss, logits, w)

    needs_g = config.perturbation == "adversarial"
    with_variables = config.clean_weight != 0
    if needs_g or with_variables:
        point = embedding_zeros(model, source) if needs_g else None
        (_, (clean_loss, logits, w)), g, clean_grads = ad.value_and_grad(
            clean_objective, point, variables=with_variables
        )
    else:
        _, (clean_loss, logits, w) = ad.forward(lambda: clean_objective(None))
        g = clean_grads = None
    if config.weighting != "none":
        tracked["weight_ess"] = weighting.effective_sample_size(w / ops.maximum(ops.sum(w), 1e-12))
    if config.perturbation == "none":
        return StepResult(clean_loss, logits, source, clean_grads, tracked)
    tracked["clean_loss"] = clean_loss

    # === Perturbation (constant for the gradient) ===
    if config.perturbation == "virtual":
        if target is not None:
            unlabeled, w_u = target, _uniform(target)
            reference = target_logits
            if not config.target_inference_mode:
                reference, _ = ad.forward(lambda: model.classify(target, training=False))
        else:
            unlabeled, w_u = source, w
            reference, _ = ad.forward(lambda: model.classify(source, training=False))
        point = unlabeled
    else:
        point = source
    mask = perturbation_mask(model, config, point)
    size = embedding_scale(model, config, ad, point, mask)
    if config.perturbation == "adversarial":
        r = adversarial_direction(model, config, ad, source, y, w, g, True, mask=mask, size=size)
        objective = loss_objective(model, source, y, w, training=True)
    elif config.perturbation == "random":
        r = random_direction(model, config, ad, source, seed, mask=mask, size=size)
        objective = loss_objective(model, source, y, w, training=True)
    else:  # virtual
        r = virtual_direction(model, config, ad, unlabeled, w_u, reference, seed, mask=mask, size=size)

        def objective(r):
            q, _ = _forward(model, unlabeled, r, training=True)
            loss = ops.sum(w_u * _per_example_kl(reference, q, unlabeled.get("padding_mask")))
            return _scale(model, loss), loss

    # === Perturbed pass: forward + backward for θ ===
    r = ops.stop_gradient(r)
    (_, perturbed_loss), _, perturbed_grads = ad.value_and_grad(lambda _: objective(r), None, variables=True)
    tracked["adv_loss"] = perturbed_loss
    tracked.update(perturbation_size(r, size, mask, config.norm))
    loss = perturbed_loss if config.clean_weight == 0 else config.clean_weight * clean_loss + perturbed_loss
    grads = combine_gradients(config.clean_weight, clean_grads, perturbed_grads, ad.add)
    return StepResult(loss, logits, source, grads, tracked)


def update_metrics(model, result, y, sample_weight):
    """Updates the loss trackers and compiled metrics (on the clean logits); returns the logs."""
    batch = ops.shape(result.logits)[0]
    # `result.loss` is this replica's unscaled loss: the tracker averages the replicas.
    model._loss_tracker.update_state(result.loss, sample_weight=batch)
    for name, value in result.tracked.items():
        model.transfer.trackers[name].update_state(value, sample_weight=batch)
    return model.compute_metrics(result.source, y, result.logits, sample_weight=sample_weight)
