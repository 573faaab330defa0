"""The sections of a recipe (`data`, `model`, `train` and its sub-sections, `eval`):
every field, its default and what it means. `keras_clx.recipe_check.RULES` holds
each field's valid values; `keras_clx.recipes.Recipe` puts the sections together."""

import dataclasses
import typing

from keras_clx.recipe_check import Section as _Section


@dataclasses.dataclass
class DataConfig(_Section):
    """What to train on and which languages to transfer to."""

    _prefix = "data."

    dataset: str = "demo"  # demo | mtod | mldoc | table | semeval2016 | umsab | xnli | pawsx | panx | conll
    task: str = "sequence"  # sequence | pair | token | tagging
    sources: list = dataclasses.field(default_factory=lambda: ["source"])
    targets: list = dataclasses.field(default_factory=lambda: ["near", "mid", "far"])
    data_dir: typing.Optional[str] = None  # default: $CLX_DATA_DIR
    leave_one_out: bool = False  # each target trained on all other listed languages
    max_train_examples: typing.Optional[int] = None  # cap per source language (quick runs)
    max_eval_examples: typing.Optional[int] = None  # cap per language and split
    options: dict = dataclasses.field(default_factory=dict)  # dataset-specific settings


@dataclasses.dataclass
class PretrainConfig(_Section):
    """Masked-LM (continued) pretraining on every language's unlabelled text (`keras-clx pretrain`)."""

    _prefix = "model.pretrain."

    enabled: bool = False  # fit: pretrain into <run>/pretrained first, then fine-tune from it
    epochs: int = 3
    steps_per_epoch: typing.Optional[int] = None  # default: one pass over the texts' count
    batch_size: int = 32
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    mask_rate: float = 0.15  # share of each text's tokens predicted (80/10/10 mask/random/keep)
    alpha: float = 0.7  # language sampling p_l ~ n_l ** alpha (XLM-R: 0.3)
    heldout_fraction: float = 0.05  # per language, for the masked-token accuracy report
    max_heldout: int = 200  # per language
    code_switch_copies: int = 0  # switched copies of each source text (train.code_switch's dictionaries and rate)


@dataclasses.dataclass
class ModelConfig(_Section):
    """The backbone and the classification head."""

    _prefix = "model."

    backbone: str = "bert_tiny"  # small config, keras-hub preset name or local preset dir
    sequence_length: int = 64
    vocabulary_size: int = 4000  # for small from-scratch backbones (a maximum)
    dropout: float = 0.1
    pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)


@dataclasses.dataclass
class SelfTrainingConfig(_Section):
    """Class-balanced self-training on the targets' unlabelled text (paper 000)."""

    _prefix = "train.self_training."

    enabled: bool = False
    k_per_class: int = 30  # Kt: most confident pseudo-labels per predicted class and round
    epochs_per_round: int = 1
    max_rounds: int = 5
    patience: int = 2  # rounds without improvement of `monitor` before stopping
    monitor: str = "target_dev"  # target_dev (as the paper) | source_dev (strict zero-shot)
    threshold: typing.Optional[float] = None  # minimum confidence of a pseudo-label
    reinitialize: bool = False  # re-initialise the weights each round (reference code)
    soft_labels: bool = False


@dataclasses.dataclass
class CodeSwitchConfig(_Section):
    """Dictionary code-switching of the source training text (CoSDA-ML; `data/code_switch.py`)."""

    _prefix = "train.code_switch."

    enabled: bool = False
    dictionaries: dict = dataclasses.field(default_factory=dict)  # {lang: path | "muse"}; empty: MUSE per target
    rate: float = 0.5  # probability that a word with a translation is replaced
    languages_per_sentence: int = 0  # languages drawn per sentence (0: all)
    keep_original: bool = True  # each batch: originals plus one switched copy of each
    join_unspaced: bool = False  # neighbouring Thai/Chinese/Japanese translations joined without a space


@dataclasses.dataclass
class CodeSwitchedEvalConfig(_Section):
    """Code-switched challenge sets: the source test set switched into each target (paper 000, Table 4)."""

    _prefix = "eval.code_switched."

    enabled: bool = False
    rate: float = 0.5
    seed: int = 0
    dictionaries: dict = dataclasses.field(default_factory=dict)  # empty: train.code_switch's, else MUSE


@dataclasses.dataclass
class TrainConfig(_Section):
    """Optimisation settings and the transfer methods to apply."""

    _prefix = "train."

    batch_size: int = 32
    learning_rate: float = 5e-4
    epochs: int = 3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 0
    jit_compile: typing.Any = "auto"
    dtype_policy: typing.Optional[str] = None  # e.g. mixed_bfloat16
    # Embedding perturbation (paper 000, Eq. 1-2).
    perturbation: str = "none"  # none | adversarial | random | virtual
    epsilon: float = 0.05  # relative: fraction of the embeddings' norm; absolute: L2 norm
    epsilon_mode: str = "relative"  # relative | absolute (the paper's: 1.0 for mBERT)
    clean_weight: float = 1.0  # total loss = clean_weight * L_clean + L_perturbed
    perturbation_norm: str = "example"  # example | batch
    perturbation_steps: int = 1  # > 1: K-step projected gradient
    # Zero-shot instance weighting (paper 004).
    instance_weighting: str = "none"  # none | cosine | euclidean | coral
    target_inference_mode: bool = False  # target representations without dropout
    distribution: str = "none"  # none | data_parallel
    # Optimisation as Keras and Hugging Face users expect (docs/training.md, "Training features").
    lr_schedule: str = "cosine"  # cosine | linear (warm-up then linear decay) | constant
    clip_norm: typing.Optional[float] = 1.0  # global-norm gradient clipping (HF Trainer's max_grad_norm)
    accumulation_steps: int = 1  # > 1: one optimizer update per that many batches
    label_smoothing: float = 0.0
    # Checkpoints (resume any run), per-epoch dev evaluation, model selection, logging.
    checkpoint_every_steps: typing.Optional[int] = None  # besides every epoch's end
    epoch_eval: bool = True  # score every language's dev split after each epoch
    epoch_eval_examples: typing.Optional[int] = 256  # cap per language (none: all)
    monitor: str = "last"  # last | source_dev | target_dev | dev:<language>
    patience: typing.Optional[int] = None  # epochs without improvement of monitor before stopping
    tensorboard: bool = False  # scalars under <run>/tensorboard/
    self_training: SelfTrainingConfig = dataclasses.field(default_factory=SelfTrainingConfig)
    code_switch: CodeSwitchConfig = dataclasses.field(default_factory=CodeSwitchConfig)


@dataclasses.dataclass
class EvalConfig(_Section):
    """What the report evaluates."""

    _prefix = "eval."

    split: str = "test"  # dev | test, for every language
    batch_size: int = 64
    code_switched: CodeSwitchedEvalConfig = dataclasses.field(default_factory=CodeSwitchedEvalConfig)
