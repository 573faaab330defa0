"""One check of a whole recipe, before any data or model work.

`check_recipe(recipe)` looks at every field, wherever it was set (recipe file,
`base_recipe`, `--set`, `Recipe.from_dict`, Python code), against the `RULES`
table: one line per field, giving its type and range or choices. A field with
no rule is still checked against its annotation. `CROSS_RULES` relate fields.
The first problem raises `RecipeError` naming the field (`train.epochs`) and
what it expects; the error's `key` attribute is that field.

No Keras import: the CLI checks recipes before it loads the frameworks.
"""

import dataclasses
import difflib
import json
import math
import typing

from keras_clx.errors import RecipeError

DTYPE_POLICIES = ("float32", "float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16")
# Fewest tokens a text can keep: the two special tokens ([CLS] [SEP] / <s> </s>) and one word.
MIN_SEQUENCE_LENGTH = 3


class Section:
    """Base of the recipe sections: refuses attributes that are not fields, naming the closest."""

    _prefix = ""  # dotted path of the section in a recipe

    def __setattr__(self, name, value):
        names = [f.name for f in dataclasses.fields(self)]
        if name not in names:
            key = self._prefix + name
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            hint = f"did you mean {self._prefix + close[0]!r}?" if close else f"fields: {', '.join(names)}"
            raise RecipeError(f"unknown recipe key {key!r}; {hint}", key=key)
        object.__setattr__(self, name, value)


class Rule:
    """A predicate on one value, and the words for what it accepts."""

    def __init__(self, accepts, expects):
        self.accepts, self.expects = accepts, expects

    def __call__(self, value):
        try:
            return bool(self.accepts(value))
        except Exception:  # a hostile value (odd __eq__, huge int): not accepted
            return False


def _is_int(value):
    return type(value) is int


def _is_number(value):
    return type(value) in (int, float)


def _bounds(low, high, low_open, high_open):
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def _within(value, low, high, low_open=False, high_open=False):
    if low is not None and (value < low or (low_open and value == low)):
        return False
    return high is None or (value < high if high_open else value <= high)


def integer(low=None, high=None):
    bounds = _bounds(low, high, False, False)
    return Rule(lambda v: _is_int(v) and _within(v, low, high), f"an integer {bounds}".strip())


def number(low=None, high=None, low_open=False, high_open=False):
    """A finite int or float within the bounds."""
    bounds = _bounds(low, high, low_open, high_open)
    return Rule(
        lambda v: _is_number(v) and math.isfinite(v) and _within(v, low, high, low_open, high_open),
        f"a finite number {bounds}".strip(),
    )


def choice(*options):
    """One of `options` (strings or booleans, compared with their type)."""
    words = [str(o).lower() if isinstance(o, bool) else o for o in options]
    expects = " or ".join(words) if len(words) == 2 else f"one of {', '.join(words[:-1])} or {words[-1]}"
    return Rule(lambda v: any(type(v) is type(o) and v == o for o in options), expects)


def optional(rule):
    return Rule(lambda v: v is None or rule(v), f"{rule.expects}, or none")


def _is_text(value):
    return type(value) is str


def _is_name_list(value):
    return type(value) is list and all(type(v) is str and v.strip() for v in value) and len(set(value)) == len(value)


def _is_json(value):
    json.dumps(value, allow_nan=False)
    return True


BOOLEAN = Rule(lambda v: type(v) is bool, "true or false")
TEXT = Rule(_is_text, "a string")
NAME = Rule(lambda v: _is_text(v) and bool(v.strip()), "a non-empty string")
LANGUAGES = Rule(_is_name_list, "a list of distinct language codes (e.g. en,es)")
OPTIONS = Rule(
    lambda v: type(v) is dict and all(type(k) is str for k in v) and _is_json(v),
    "a dict of JSON values with string keys",
)
DICTIONARIES = Rule(
    lambda v: type(v) is dict and all(_is_text(k) and _is_text(p) and p.strip() for k, p in v.items()),
    'a dict {language: dictionary path or "muse"}',
)

RULES = {
    "description": TEXT,
    "data.dataset": NAME,
    "data.task": choice("sequence", "pair", "token", "tagging"),
    "data.sources": LANGUAGES,
    "data.targets": LANGUAGES,
    "data.data_dir": optional(NAME),
    "data.leave_one_out": BOOLEAN,
    "data.max_train_examples": optional(integer(1)),
    "data.max_eval_examples": optional(integer(1)),
    "data.options": OPTIONS,
    "model.backbone": NAME,
    "model.sequence_length": integer(MIN_SEQUENCE_LENGTH, 1_000_000),
    "model.vocabulary_size": integer(16, 10_000_000),
    "model.dropout": number(0, 1, high_open=True),
    "model.pretrain.enabled": BOOLEAN,
    "model.pretrain.epochs": integer(1),
    "model.pretrain.steps_per_epoch": optional(integer(1)),
    "model.pretrain.batch_size": integer(1),
    "model.pretrain.learning_rate": number(0, low_open=True),
    "model.pretrain.weight_decay": number(0),
    "model.pretrain.warmup_ratio": number(0, 1),
    "model.pretrain.mask_rate": number(0, 1, low_open=True, high_open=True),
    "model.pretrain.alpha": number(0, 1),
    "model.pretrain.heldout_fraction": number(0, 1, high_open=True),
    "model.pretrain.max_heldout": integer(0),
    "model.pretrain.code_switch_copies": integer(0),
    "train.batch_size": integer(1),
    "train.learning_rate": number(0, low_open=True),
    "train.epochs": integer(1),
    "train.weight_decay": number(0),
    "train.warmup_ratio": number(0, 1),
    "train.seed": integer(0, 2**32 - 1),
    "train.jit_compile": choice("auto", True, False),
    "train.dtype_policy": optional(choice(*DTYPE_POLICIES)),
    "train.perturbation": choice("none", "adversarial", "random", "virtual"),
    "train.epsilon": number(0, low_open=True),
    "train.epsilon_mode": choice("relative", "absolute"),
    "train.clean_weight": number(0),
    "train.perturbation_norm": choice("example", "batch"),
    "train.perturbation_steps": integer(1, 1000),
    "train.instance_weighting": choice("none", "cosine", "euclidean", "coral"),
    "train.target_inference_mode": BOOLEAN,
    "train.distribution": choice("none", "data_parallel"),
    "train.lr_schedule": choice("cosine", "linear", "constant"),
    "train.clip_norm": optional(number(0, low_open=True)),
    "train.accumulation_steps": integer(1, 10_000),
    "train.label_smoothing": number(0, 1, high_open=True),
    "train.checkpoint_every_steps": optional(integer(1)),
    "train.epoch_eval": BOOLEAN,
    "train.epoch_eval_examples": optional(integer(1)),
    "train.monitor": Rule(
        lambda v: (
            _is_text(v)
            and (v in ("last", "source_dev", "target_dev") or (v.startswith("dev:") and bool(v[4:].strip())))
        ),
        "last, source_dev, target_dev or dev:<language>",
    ),
    "train.patience": optional(integer(0)),
    "train.tensorboard": BOOLEAN,
    "train.self_training.enabled": BOOLEAN,
    "train.self_training.k_per_class": integer(1),
    "train.self_training.epochs_per_round": integer(1),
    "train.self_training.max_rounds": integer(1),
    "train.self_training.patience": integer(0),
    "train.self_training.monitor": choice("target_dev", "source_dev"),
    "train.self_training.threshold": optional(number(0, 1)),
    "train.self_training.reinitialize": BOOLEAN,
    "train.self_training.soft_labels": BOOLEAN,
    "train.code_switch.enabled": BOOLEAN,
    "train.code_switch.dictionaries": DICTIONARIES,
    "train.code_switch.rate": number(0, 1),
    "train.code_switch.languages_per_sentence": integer(0),
    "train.code_switch.keep_original": BOOLEAN,
    "train.code_switch.join_unspaced": BOOLEAN,
    "eval.split": choice("dev", "test"),
    "eval.batch_size": integer(1),
    "eval.code_switched.enabled": BOOLEAN,
    "eval.code_switched.rate": number(0, 1),
    "eval.code_switched.seed": integer(0, 2**32 - 1),
    "eval.code_switched.dictionaries": DICTIONARIES,
}


def _cross_rules(recipe):
    """`(key, problem)` pairs for settings that are valid alone but not together."""
    data, train = recipe.data, recipe.train
    if not data.sources and not data.leave_one_out:
        yield "data.sources", "needs at least one source language"
    if not data.leave_one_out:
        both = [lang for lang in data.targets if lang in data.sources]
        if both:
            yield "data.targets", f"{both} also in data.sources; a language is a source or a target"
    if train.perturbation_steps > 1 and train.perturbation not in ("adversarial", "virtual"):
        yield "train.perturbation_steps", "> 1 applies to train.perturbation=adversarial or virtual only"
    if train.perturbation == "virtual" and train.clean_weight == 0:
        yield "train.clean_weight", "must be > 0 with train.perturbation=virtual (it uses no labels)"
    if train.monitor != "last" and not train.epoch_eval:
        yield "train.monitor", f"={train.monitor} reads the per-epoch dev scores: set train.epoch_eval=true"
    if train.monitor.startswith("dev:") and train.monitor[4:] not in data.sources + data.targets:
        yield "train.monitor", f"names {train.monitor[4:]!r}, not one of data.sources + data.targets"
    if train.patience is not None and train.monitor == "last":
        yield "train.patience", "needs train.monitor (source_dev, target_dev or dev:<language>) to watch"
    if train.label_smoothing and data.task != "sequence":
        yield "train.label_smoothing", "applies to data.task=sequence only"
    if train.self_training.enabled and (train.monitor != "last" or train.checkpoint_every_steps):
        key = "train.monitor" if train.monitor != "last" else "train.checkpoint_every_steps"
        yield (
            key,
            (
                "does not apply to self-training (rounds select the best round and are its checkpoints; "
                "see train.self_training.monitor)"
            ),
        )


CROSS_RULES = (_cross_rules,)


def _short(value, limit=60):
    text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _annotation_rule(annotation):
    """A rule from a field's type annotation (fields without an entry in `RULES`)."""
    optional_ = typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation)
    base = typing.get_args(annotation)[0] if optional_ else annotation
    simple = {
        int: integer(),
        float: number(),
        str: TEXT,
        bool: BOOLEAN,
        list: Rule(lambda v: type(v) is list, "a list"),
        dict: OPTIONS,
    }
    rule = simple.get(base, Rule(lambda v: True, "anything"))
    return optional(rule) if optional_ else rule


def _fields(section, prefix=""):
    """Yields `(key, value, annotation)` for every leaf field, checking section types."""
    hints = typing.get_type_hints(type(section))
    for field in dataclasses.fields(section):
        key, value = prefix + field.name, getattr(section, field.name)
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            if type(value) is not kind:
                raise RecipeError(
                    f"{key} must be a {kind.__name__} section (set its fields instead), got {_short(value)}",
                    key=key,
                )
            yield from _fields(value, key + ".")
        else:
            yield key, value, kind


def check_recipe(recipe):
    """Raises `RecipeError` naming the first invalid field of `recipe`; returns `recipe`."""
    if not (isinstance(recipe, Section) and all(hasattr(recipe, s) for s in ("data", "model", "train", "eval"))):
        raise RecipeError(f"expected a keras_clx.Recipe, got {type(recipe).__name__}")
    for key, value, annotation in _fields(recipe):
        rule = RULES.get(key) or _annotation_rule(annotation)
        if not rule(value):
            raise RecipeError(f"{key} must be {rule.expects}, got {_short(value)}", key=key)
    for cross in CROSS_RULES:
        for key, problem in cross(recipe):
            raise RecipeError(f"{key} {problem}", key=key)
    return recipe
