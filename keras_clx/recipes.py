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
closest valid key. Every way in (`load_recipe`, `apply_overrides`,
`Recipe.from_dict`) ends with `check_recipe` (`keras_clx.recipe_check`), and the
config sections refuse attributes that are not fields (`recipe.train.epochz = 3`).
"""

import ast
import dataclasses
import difflib
import importlib.machinery
import importlib.util
import inspect
import json
import pathlib
import typing

from keras_clx.errors import ClxError, RecipeError
from keras_clx.recipe_check import Section as _Section
from keras_clx.recipe_check import check_recipe
from keras_clx.recipe_sections import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    TrainConfig,
)


@dataclasses.dataclass
class Recipe(_Section):
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
        """Inverse of `to_dict`; unknown keys and invalid values are errors."""
        if not isinstance(data, dict):
            raise RecipeError(f"a recipe must be a JSON object, got {type(data).__name__}")
        recipe = cls()
        for key, value in _flatten(data):
            set_field(recipe, key, value)
        return check_recipe(recipe)

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
    except Exception:  # not a Python literal (or a hostile one): the text itself
        return text


def _coerce(key, value, current, annotation):
    """Checks `value` against the field's type, converting strings from the CLI."""
    if isinstance(value, str) and annotation is not str:
        value = _parse_text(value)
    optional = typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation)
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


def _from_override(error, item=None):
    """Marks `error` as caused by `--set` (and names the override when `item`)."""
    if item is not None:
        shown = item if item.isprintable() else repr(item)
        error = RecipeError(f"{error} (--set {shown})", key=error.key)
    error.from_override = True
    return error


def apply_overrides(recipe, overrides):
    """Applies `key=value` strings (from `--set`) in order, then checks the whole recipe."""
    given = {}
    for item in overrides:
        if "=" not in item:
            raise _from_override(RecipeError(f"override {item!r} is not of the form key=value"))
        key, value = item.split("=", 1)
        try:
            set_field(recipe, key.strip(), value)
        except RecipeError as error:
            raise _from_override(error) from None
        given[key.strip()] = item
    try:
        return check_recipe(recipe)
    except RecipeError as error:
        culprit = [
            item for key, item in given.items() if error.key and (key == error.key or key.startswith(error.key + "."))
        ]
        if culprit:
            raise _from_override(error, culprit[-1]) from None
        raise


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


def _one_line(error):
    return " ".join(str(error).split()) or "(no message)"


def _in_file(path, error):
    """`error` (raised by the recipe file's code) as a `RecipeError` naming the file."""
    message = _one_line(error)
    if isinstance(error, SystemExit):
        message = f"get_recipe() called sys.exit({error.code!r})"
    elif not isinstance(error, ClxError):
        message = f"get_recipe() raised {type(error).__name__}: {message}"
    elif message.startswith("recipe "):  # already names its file (a base recipe)
        return RecipeError(message, key=getattr(error, "key", None))
    return RecipeError(f"recipe {path}: {message}", key=getattr(error, "key", None))


def _run_recipe_file(path):
    """The `Recipe` that the file's `get_recipe()` returns; any failure is a `RecipeError`."""
    name = f"clx_recipe_{path.stem}"
    spec = importlib.util.spec_from_loader(name, importlib.machinery.SourceFileLoader(name, str(path)))
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a broken recipe file is the user's error, not ours
        if isinstance(error, ClxError):
            raise _in_file(path, error) from None
        what = "called sys.exit" if isinstance(error, SystemExit) else type(error).__name__
        raise RecipeError(f"recipe {path}: cannot load recipe: {what}: {_one_line(error)}") from None
    get_recipe = getattr(module, "get_recipe", None)
    if get_recipe is None:
        raise RecipeError(f"recipe {path}: a recipe file must define get_recipe()")
    if not callable(get_recipe):
        raise RecipeError(f"recipe {path}: get_recipe must be a function, got {type(get_recipe).__name__}")
    try:
        inspect.signature(get_recipe).bind()
    except TypeError:
        raise RecipeError(
            f"recipe {path}: get_recipe() must take no arguments, it is get_recipe{inspect.signature(get_recipe)}"
        ) from None
    except ValueError:  # no signature to inspect: let the call tell
        pass
    try:
        recipe = get_recipe()
    except (Exception, SystemExit) as error:  # KeyboardInterrupt still interrupts
        raise _in_file(path, error) from None
    if not isinstance(recipe, Recipe):
        raise RecipeError(f"recipe {path}: get_recipe() must return a keras_clx.Recipe, got {type(recipe).__name__}")
    return recipe


def load_recipe(name, overrides=()):
    """Runs the recipe file's `get_recipe()`, applies `overrides` and checks the result.

    A problem is a `RecipeError` that names the recipe file, or the `--set` override at fault.
    """
    path = resolve_recipe_path(name)
    recipe = _run_recipe_file(path)
    try:
        return apply_overrides(recipe, overrides)
    except RecipeError as error:
        if getattr(error, "from_override", False):
            raise
        raise RecipeError(f"recipe {path}: {error}", key=error.key) from None


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
