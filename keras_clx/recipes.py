"""Recipes: Python files that return one `Recipe`, and `--set key=value` overrides.

A recipe file defines `get_recipe()` returning a `Recipe` (big_vision style):

    from keras_clx import Recipe

    def get_recipe():
        recipe = Recipe(description="Intent classification, en -> es, th")
        recipe.data.dataset = "mtod"
        recipe.train.epochs = 3
        return recipe

Overrides address fields by dotted path (`train.epochs=2`, `data.targets=es,th`,
`data.options.train_size=500`); an unknown key is an error that names the
closest valid key.
"""

import ast
import dataclasses
import difflib
import importlib.util
import json
import pathlib
import typing

from keras_clx.errors import RecipeError


@dataclasses.dataclass
class DataConfig:
    """What to train on and which languages to transfer to."""

    dataset: str = "demo"  # demo | mtod | mldoc | table | semeval2016 (see `keras_clx.data.datasets`)
    task: str = "sequence"  # sequence | token
    sources: list = dataclasses.field(default_factory=lambda: ["source"])
    targets: list = dataclasses.field(default_factory=lambda: ["near", "mid", "far"])
    data_dir: typing.Optional[str] = None  # default: $CLX_DATA_DIR
    leave_one_out: bool = False  # each target trained on all other listed languages
    max_train_examples: typing.Optional[int] = None  # cap per source language (quick runs)
    max_eval_examples: typing.Optional[int] = None  # cap per language and split
    options: dict = dataclasses.field(default_factory=dict)  # dataset-specific settings


@dataclasses.dataclass
class PretrainConfig:
    """Masked-LM (continued) pretraining on every language's unlabelled text (`keras-clx pretrain`)."""

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


@dataclasses.dataclass
class ModelConfig:
    """The backbone and the classification head."""

    backbone: str = "bert_tiny"  # small config, keras-hub preset name or local preset dir
    sequence_length: int = 64
    vocabulary_size: int = 4000  # for small from-scratch backbones (a maximum)
    dropout: float = 0.1
    pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)


@dataclasses.dataclass
class SelfTrainingConfig:
    """Class-balanced self-training on the targets' unlabelled text (paper 000)."""

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
class TrainConfig:
    """Optimisation settings and the transfer methods to apply."""

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
    epsilon: float = 1.0
    clean_weight: float = 1.0  # total loss = clean_weight * L_clean + L_perturbed
    perturbation_norm: str = "example"  # example | batch
    perturbation_steps: int = 1  # > 1: K-step projected gradient
    # Zero-shot instance weighting (paper 004).
    instance_weighting: str = "none"  # none | cosine | euclidean | coral
    target_inference_mode: bool = False  # target representations without dropout
    distribution: str = "none"  # none | data_parallel
    self_training: SelfTrainingConfig = dataclasses.field(default_factory=SelfTrainingConfig)


@dataclasses.dataclass
class EvalConfig:
    """What the report evaluates."""

    split: str = "test"  # dev | test, for every language
    batch_size: int = 64


@dataclasses.dataclass
class Recipe:
    """One experiment: data, model, training and evaluation settings."""

    description: str = ""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`; unknown keys are errors."""
        recipe = cls()
        for key, value in _flatten(data):
            set_field(recipe, key, value)
        return recipe

    def to_json(self, path):
        pathlib.Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json(cls, path):
        return cls.from_dict(json.loads(pathlib.Path(path).read_text()))


def _flatten(data, prefix=""):
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not path.endswith("options"):
            yield from _flatten(value, path + ".")
        else:
            yield path, value


def valid_keys(obj, prefix=""):
    """Every dotted key of a recipe (or a config section)."""
    keys = []
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        key = prefix + field.name
        if dataclasses.is_dataclass(value):
            keys.extend(valid_keys(value, key + "."))
        else:
            keys.append(key)
    return keys


def _unknown_key(key, recipe):
    keys = valid_keys(recipe)
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(keys)}"
    return RecipeError(f"unknown recipe key {key!r}{hint}")


def _parse_text(text):
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _coerce(key, value, current, annotation):
    """Checks `value` against the field's type, converting strings from the CLI."""
    if isinstance(value, str) and annotation is not str:
        value = _parse_text(value)
    optional = typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(
        annotation
    )
    if value is None:
        if optional or annotation is typing.Any:
            return None
        raise RecipeError(f"recipe key {key!r} cannot be none")
    base = typing.get_args(annotation)[0] if optional else annotation
    if base is typing.Any:
        return value
    if base is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            return list(value)
        return [value]
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is str and not isinstance(value, str):
        return str(value)
    if base is bool and not isinstance(value, bool):
        raise RecipeError(f"recipe key {key!r} expects true or false, got {value!r}")
    if base is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise RecipeError(f"recipe key {key!r} expects an integer, got {value!r}")
    if not isinstance(value, base):
        raise RecipeError(f"recipe key {key!r} expects {base.__name__}, got {value!r}")
    return value


def set_field(recipe, key, value):
    """Sets the dotted `key` of `recipe` to `value` (a string is parsed)."""
    parts = key.split(".")
    obj = recipe
    for i, part in enumerate(parts):
        if isinstance(obj, dict):  # free-form options: the rest of the key is one entry
            name = ".".join(parts[i:])
            obj[name] = _parse_text(value) if isinstance(value, str) else value
            return
        if not dataclasses.is_dataclass(obj) or part not in {f.name for f in dataclasses.fields(obj)}:
            raise _unknown_key(key, recipe)
        if i == len(parts) - 1:
            field = next(f for f in dataclasses.fields(obj) if f.name == part)
            hints = typing.get_type_hints(type(obj))
            if dataclasses.is_dataclass(getattr(obj, part)):
                raise RecipeError(f"recipe key {key!r} is a section; set one of its fields")
            setattr(obj, part, _coerce(key, value, getattr(obj, part), hints[field.name]))
            return
        obj = getattr(obj, part)


def apply_overrides(recipe, overrides):
    """Applies `key=value` strings (from `--set`) in order."""
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        set_field(recipe, key.strip(), value)
    return recipe


def bundled_recipes_dir():
    """The `recipes/` folder shipped beside the package."""
    return pathlib.Path(__file__).resolve().parent.parent / "recipes"


def resolve_recipe_path(name):
    """A recipe file path, or the name of a bundled recipe (`demo`, `mtod`, ...)."""
    path = pathlib.Path(name)
    if path.is_file():
        return path
    bundled = bundled_recipes_dir() / f"{path.stem}.py"
    if path.suffix in ("", ".py") and len(path.parts) <= 2 and bundled.is_file():
        return bundled
    known = sorted(p.stem for p in bundled_recipes_dir().glob("*.py"))
    raise RecipeError(f"recipe file {name!r} not found; bundled recipes: {', '.join(known)}")


def load_recipe(name, overrides=()):
    """Runs the recipe file's `get_recipe()` and applies `overrides`."""
    path = resolve_recipe_path(name)
    spec = importlib.util.spec_from_file_location(f"clx_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a broken recipe file is the user's error, not ours
        raise RecipeError(f"{path}: cannot load recipe: {type(error).__name__}: {error}") from error
    if not hasattr(module, "get_recipe"):
        raise RecipeError(f"{path}: a recipe file must define get_recipe()")
    recipe = module.get_recipe()
    if not isinstance(recipe, Recipe):
        raise RecipeError(f"{path}: get_recipe() must return a keras_clx.Recipe")
    return apply_overrides(recipe, overrides)


def base_recipe(recipe_file, name, description=None):
    """The recipe `name` from the file beside `recipe_file`, to derive another from.

    In a recipe file: `recipe = base_recipe(__file__, "mtod", "MTOD ... (adversarial)")`,
    then change what differs. Copied recipe folders keep working (the base is looked
    up next to the file, not among the bundled recipes).
    """
    recipe = load_recipe(str(pathlib.Path(recipe_file).with_name(f"{name}.py")))
    if description is not None:
        recipe.description = description
    return recipe


def list_recipes():
    """(name, description) of every bundled recipe."""
    items = []
    for path in sorted(bundled_recipes_dir().glob("*.py")):
        try:
            description = load_recipe(str(path)).description
        except RecipeError as error:
            description = f"(broken: {error})"
        items.append((path.stem, description))
    return items
