"""Transfer train steps: embedding perturbation and instance weighting on every backend.

A classifier trains with Keras's own step until it is compiled with a
`TransferConfig`:

    model.compile(optimizer, transfer=TransferConfig(perturbation="adversarial"))
    model.fit(dataset)                       # (x, y) batches
    model.compile(optimizer, transfer=TransferConfig(weighting="cosine"))
    model.fit(paired)                        # ({"source": x, "target": x_t}, y) batches

The step is written once in `common.py` over a small per-backend `Autodiff`
(`tensorflow.py`, `jax.py`, `torch.py`), chosen by `keras.backend.backend()`.
"""

import dataclasses
import importlib
import typing

import keras

from keras_clx.errors import ClxError
from keras_clx.training import perturbation as perturb
from keras_clx.training.steps import common
from keras_clx.training.weighting import SCORES

PERTURBATIONS = ("none", "adversarial", "random", "virtual")
DEFAULT_EPSILON = 0.05  # relative: ‖r‖ = 5% of ‖e‖ (see docs/training.md, "Choosing ε")
WEIGHTINGS = ("none", *SCORES)


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """What the transfer train step does.

    Args:
        perturbation: `"none"`, `"adversarial"` (Eq. 2: ε·g/‖g‖₂), `"random"` (a
            Gaussian direction scaled to ε, the paper's baseline) or `"virtual"`
            (VAT: the direction that most changes the prediction, found by power
            iteration on the KL divergence; uses no labels, and the unlabelled target
            half of paired batches when there is one).
        epsilon: ε, the size of the perturbation: a fraction of the embeddings'
            norm (`epsilon_mode="relative"`) or an L2 norm (`"absolute"`).
        epsilon_mode: `"relative"` (default): ‖r‖₂ = ε·‖e‖₂, with ‖e‖₂ the norm of the
            perturbed tokens' embeddings over the same scope as `norm` (scale-free:
            the same ε suits any backbone); `"absolute"`: ‖r‖₂ = ε, as the paper
            (ε = 1.0 for multilingual BERT).
        clean_weight: total loss = `clean_weight`·L_clean + L_perturbed. 1 (default)
            trains on both, as the paper's reference code; 0 is Eq. 1 alone.
        norm: `"example"` (one norm per example over its unpadded tokens × hidden
            units; default) or `"batch"` (one norm for the batch, as the reference code).
        perturbation_steps: adversarial: K > 1 refines Eq. 2 by K - 1
            projected-gradient steps; virtual: the number of power iterations.
        step_size: α of the projected-gradient steps (default ε / K; relative or
            absolute as ε).
        xi: ξ, the norm of the VAT power-iteration probe.
        weighting: `"none"` or an instance-weighting score: `"cosine"`,
            `"euclidean"`, `"coral"` (see `keras_clx.training.weighting`); needs
            paired batches.
        target_inference_mode: compute the target representations without dropout.
        perturb_special_tokens: also perturb the tokens the preprocessor adds
            ([CLS], [SEP]; <s>, </s>). Off by default: they are not words, and in an
            encoder trained from scratch the gradient concentrates on [CLS].
        seed: seed of the random and VAT directions.
    """

    perturbation: str = "none"
    epsilon: float = DEFAULT_EPSILON
    epsilon_mode: str = "relative"
    clean_weight: float = 1.0
    norm: str = "example"
    perturbation_steps: int = 1
    step_size: typing.Optional[float] = None
    xi: float = 1e-2
    weighting: str = "none"
    target_inference_mode: bool = False
    perturb_special_tokens: bool = False
    seed: int = 0

    def __post_init__(self):
        def check(name, value, options):
            if value not in options:
                raise ClxError(f"transfer {name} must be one of {', '.join(options)}, got {value!r}")

        check("perturbation", self.perturbation, PERTURBATIONS)
        check("norm", self.norm, perturb.NORMS)
        check("epsilon_mode", self.epsilon_mode, perturb.EPSILON_MODES)
        check("weighting", self.weighting, WEIGHTINGS)
        if self.epsilon < 0 or self.clean_weight < 0 or self.xi <= 0:
            raise ClxError("transfer epsilon and clean_weight must be >= 0 and xi > 0")
        k = self.perturbation_steps
        if not isinstance(k, int) or k < 1:
            raise ClxError(f"transfer perturbation_steps must be an integer >= 1, got {k!r}")
        if k > 1 and self.perturbation not in ("adversarial", "virtual"):
            raise ClxError("transfer perturbation_steps > 1 applies to the adversarial and virtual perturbations only")
        if self.perturbation == "virtual" and self.clean_weight == 0:
            raise ClxError("the virtual perturbation uses no labels: set clean_weight > 0")
        if self.step_size is None:
            object.__setattr__(self, "step_size", self.epsilon / k)

    @classmethod
    def from_recipe(cls, train):
        """The configuration a recipe's `train` section describes."""
        return cls(
            perturbation=train.perturbation,
            epsilon=train.epsilon,
            epsilon_mode=train.epsilon_mode,
            clean_weight=train.clean_weight,
            norm=train.perturbation_norm,
            perturbation_steps=train.perturbation_steps,
            weighting=train.instance_weighting,
            target_inference_mode=train.target_inference_mode,
            seed=train.seed,
        )

    def describe(self):
        """One line for logs: what the step does."""
        parts = []
        if self.perturbation != "none":
            k = f", {self.perturbation_steps} steps" if self.perturbation_steps > 1 else ""
            size = f"{self.epsilon:g}·‖e‖" if self.epsilon_mode == "relative" else f"{self.epsilon:g}"
            parts.append(
                f"{self.perturbation} perturbation (ε={size} per {self.norm}{k}, clean_weight={self.clean_weight:g})"
            )
        if self.weighting != "none":
            mode = ", targets in inference mode" if self.target_inference_mode else ""
            parts.append(f"{self.weighting} instance weighting{mode}")
        return " + ".join(parts) or "none"

    @property
    def is_vanilla(self):
        """Neither perturbation nor weighting: Keras's built-in step does the job."""
        return self.perturbation == "none" and self.weighting == "none"

    @property
    def uses_target_batches(self):
        """Whether the step reads the target half of paired batches."""
        return self.weighting != "none" or self.perturbation == "virtual"


class TransferStep:
    """A compiled classifier's transfer step: its configuration, seed and metric trackers.

    The classifier owns it (`model.transfer`, set by `compile(transfer=...)`), as a
    Keras model owns its loss tracker: a plain object, whose trackers the model
    lists in `metrics`.
    """

    def __init__(self, config, seed=None):
        self.config = config
        self.seed = seed
        names = []
        if config.perturbation != "none":  # without one, the clean loss is `loss`
            names += ["clean_loss", "adv_loss", "perturbation_norm", "perturbation_ratio"]
        if config.weighting != "none":
            names.append("weight_ess")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, model, *args):
        return _backend().train_step(model, self, *args)

    def wrap_train_function(self, model, function):
        """The backend's train function, with any backend setting the step needs scoped to it."""
        wrap = getattr(_backend(), "wrap_train_function", None)
        return function if wrap is None else wrap(model, function)


def make_transfer_step(model, transfer):
    """The `TransferStep` for `compile(transfer=...)`; `None` (Keras's step) for `None` or a vanilla config."""
    if transfer is not None and not isinstance(transfer, TransferConfig):
        raise ClxError(f"transfer must be a TransferConfig, got {type(transfer).__name__}")
    if transfer is None or transfer.is_vanilla:
        return None
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise ClxError(f"the transfer train step supports tensorflow, jax and torch, not {backend}")
    seed = None
    if transfer.perturbation in ("random", "virtual"):
        # Tracked by the model, so that JAX threads its state through the step.
        if getattr(model, "_transfer_seed_generator", None) is None:
            model._transfer_seed_generator = keras.random.SeedGenerator(transfer.seed)
        seed = model._transfer_seed_generator
    return TransferStep(transfer, seed)


def _backend():
    return importlib.import_module(f"keras_clx.training.steps.{keras.backend.backend()}")


def _tensors(*structures):
    return [None if s is None else keras.tree.map_structure(keras.ops.convert_to_tensor, s) for s in structures]


def _autodiff(model):
    module = _backend()
    if keras.backend.backend() == "jax":
        return module.Autodiff(
            model,
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
        )
    return module.Autodiff(model)


def embedding_gradient(model, x, y, sample_weight=None, training=False):
    """g = ∂(Σ_i w_i L_i)/∂e at the token-embedding output of a preprocessed batch `x`.

    `w_i` is 1/n, times `sample_weight` when given. Returns a `(batch, length, hidden)` tensor.
    """
    x, y, sample_weight = _tensors(x, y, sample_weight)
    w = common.example_weights(TransferConfig(), x, None, None, sample_weight)
    objective = common.loss_objective(model, x, y, w, training, scale=False)
    _, g, _ = _autodiff(model).value_and_grad(objective, common.embedding_zeros(model, x), False)
    return g


def perturbation(model, x, y=None, transfer=None, training=False, seed=None):
    """The perturbation r of the token embeddings that `transfer` prescribes for batch `x`.

    `y` is needed by the adversarial perturbation only; the random and virtual ones
    draw from `seed` (default `transfer.seed`).
    """
    transfer = transfer or TransferConfig(perturbation="adversarial")
    x, y = _tensors(x, y)
    ad = _autodiff(model)
    w = common.example_weights(TransferConfig(), x, None, None, None)
    generator = keras.random.SeedGenerator(transfer.seed if seed is None else seed)
    if transfer.perturbation == "adversarial":
        if y is None:
            raise ClxError("the adversarial perturbation needs labels y")
        g = embedding_gradient(model, x, y, training=training)
        return common.adversarial_direction(model, transfer, ad, x, y, w, g, training, scale=False)
    if transfer.perturbation == "random":
        return common.random_direction(model, transfer, ad, x, generator)
    if transfer.perturbation == "virtual":
        reference, _ = ad.forward(lambda: model.classify(x, training=False))
        return common.virtual_direction(model, transfer, ad, x, w, reference, generator)
    raise ClxError(f"no perturbation for perturbation={transfer.perturbation!r}")
