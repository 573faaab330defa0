"""The recipe check: random values of every field either pass or give one-line `RecipeError`s;
hostile recipe files and `--set` values fail through the CLI with one `error:` line and exit code 2."""

import copy
import json
import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keras_clx.errors import ClxError, RecipeError
from keras_clx.recipe_check import DTYPE_POLICIES, RULES, check_recipe
from keras_clx.recipes import Recipe, apply_overrides, load_recipe, valid_keys

KEYS = valid_keys(Recipe())
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-3, 3),
    st.floats(),
    st.floats(-2, 2),
    st.text(max_size=12),
    st.sampled_from(["auto", "adversarial", "dev", "cosine", "mixed_bfloat16", "three", ""]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),
        st.frozensets(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=6,
)


def _set_raw(recipe, key, value):
    """Sets a field as a recipe file can (no parsing or coercion)."""
    *path, name = key.split(".")
    section = recipe
    for part in path:
        section = getattr(section, part)
    setattr(section, name, value)


def _assert_one_line(error):
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message


def test_every_field_has_a_rule():
    assert sorted(RULES) == sorted(KEYS)


@settings(max_examples=600, deadline=None)
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_value_of_any_field_is_accepted_or_one_line_recipe_error(key, value):
    recipe = Recipe()
    _set_raw(recipe, key, value)
    try:
        check_recipe(recipe)
    except RecipeError as error:
        _assert_one_line(error)
        assert error.key in KEYS and error.key in str(error)  # the field at fault (or the one it conflicts with)
        return
    # what the check accepts is written to recipe.json and read back by `evaluate`
    assert check_recipe(Recipe.from_dict(json.loads(json.dumps(recipe.to_dict(), allow_nan=False))))


@settings(max_examples=600, deadline=None)
@given(
    key=st.sampled_from(KEYS),
    text=st.one_of(
        st.text(max_size=16),
        st.from_regex(r"-?[0-9e.]{1,6}", fullmatch=True),
        st.sampled_from(["none", "true", "1e999", "nan", "[", "{1}", "()", "'x'"]),
    ),
)
@example(key="data.dataset", text="\n")  # an override that is not one line is quoted
def test_any_override_text_is_accepted_or_one_line_recipe_error(key, text):
    try:
        apply_overrides(Recipe(), [f"{key}={text}"])
    except RecipeError as error:
        _assert_one_line(error)


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=0", "train.epochs must be an integer >= 1, got 0 (--set train.epochs=0)"),
        ("train.epochs=-1", "train.epochs must be an integer >= 1"),
        ("train.batch_size=0", "train.batch_size must be an integer >= 1"),
        ("train.learning_rate=-1", "train.learning_rate must be a finite number > 0"),
        ("train.learning_rate=0", "train.learning_rate must be a finite number > 0"),
        ("train.warmup_ratio=5", "train.warmup_ratio must be a finite number >= 0 and <= 1"),
        ("train.epsilon=1e999", "train.epsilon must be a finite number > 0, got inf"),
        ("model.dropout=1.5", "model.dropout must be a finite number >= 0 and < 1"),
        ("model.dropout=1", "model.dropout must be a finite number >= 0 and < 1"),
        ("model.sequence_length=2", "model.sequence_length must be an integer >= 3"),
        ("model.vocabulary_size=3", "model.vocabulary_size must be an integer >= 16"),
        ("train.self_training.k_per_class=0", "k_per_class must be an integer >= 1"),
        ("train.self_training.max_rounds=0", "max_rounds must be an integer >= 1"),
        ("train.self_training.patience=-1", "patience must be an integer >= 0"),
        ("train.self_training.threshold=1.5", "threshold must be a finite number >= 0 and <= 1, or none"),
        ("train.self_training.monitor=dev", "monitor must be target_dev or source_dev"),
        ("train.dtype_policy=bogus", "train.dtype_policy must be one of float32, float16,"),
        ("train.jit_compile=maybe", "train.jit_compile must be one of auto, true or false, got 'maybe'"),
        ("train.jit_compile=1", "train.jit_compile must be one of auto, true or false, got 1"),
        ("eval.split=train", "eval.split must be dev or test, got 'train'"),
        ("train.perturbation=adversary", "train.perturbation must be one of none, adversarial,"),
        ("train.perturbation_norm=token", "train.perturbation_norm must be example or batch"),
        ("train.instance_weighting=cos", "train.instance_weighting must be one of none, cosine,"),
        ("train.distribution=ddp", "train.distribution must be none or data_parallel"),
        ("data.task=tokens", "data.task must be one of sequence, pair, token or tagging"),
        ("data.targets=es,es", "data.targets must be a list of distinct language codes"),
        ("data.targets=source", "data.targets ['source'] also in data.sources"),
        ("data.sources=[]", "data.sources needs at least one source language"),
        ("train.perturbation_steps=3", "train.perturbation_steps > 1 applies to"),
        ("train.epochs=three", "recipe key 'train.epochs' expects an integer"),
    ],
)
def test_out_of_range_overrides_name_the_field_and_the_override(override, message):
    with pytest.raises(RecipeError) as raised:
        load_recipe("demo", [override])
    assert message in str(raised.value)
    _assert_one_line(raised.value)


def test_valid_edges_are_accepted():
    recipe = load_recipe(
        "demo",
        [
            "train.epochs=1",
            "train.warmup_ratio=0",
            "train.warmup_ratio=1",
            "model.dropout=0",
            "train.self_training.patience=0",
            "train.self_training.threshold=0",
            "train.jit_compile=false",
            "train.dtype_policy=mixed_bfloat16",
            "eval.split=dev",
            "model.sequence_length=3",
            "train.perturbation=virtual",
            "train.perturbation_steps=2",
            "data.sources=[]",
            "data.leave_one_out=true",
        ],
    )
    assert recipe.train.perturbation_steps == 2 and recipe.model.sequence_length == 3


def test_dtype_policies_are_names_keras_accepts():
    import keras

    for name in DTYPE_POLICIES:
        assert keras.dtype_policies.DTypePolicy(name).name == name


def test_sections_refuse_unknown_attributes_naming_the_closest_field():
    recipe = Recipe()
    with pytest.raises(RecipeError, match=r"unknown recipe key 'train\.epochz'; did you mean 'train\.epochs'\?"):
        recipe.train.epochz = 3
    with pytest.raises(RecipeError, match=r"'train\.self_training\.k_per_clas'; did you mean '.*\.k_per_class'"):
        recipe.train.self_training.k_per_clas = 3
    with pytest.raises(RecipeError, match=r"unknown recipe key 'descripton'; did you mean 'description'"):
        recipe.descripton = "x"
    clone = copy.deepcopy(recipe)  # copies (leave-one-out) and pickles bypass __setattr__
    clone.train.epochs = 9
    assert (clone.train.epochs, recipe.train.epochs) == (9, 3)


def test_a_replaced_section_is_named():
    recipe = Recipe()
    recipe.train = {"epochs": 3}
    with pytest.raises(RecipeError, match="train must be a TrainConfig section"):
        check_recipe(recipe)


def test_from_dict_checks_values():
    data = Recipe().to_dict()
    data["train"]["epochs"] = 0
    with pytest.raises(RecipeError, match="train.epochs must be an integer >= 1"):
        Recipe.from_dict(data)
    with pytest.raises(RecipeError, match="must be a JSON object"):
        Recipe.from_dict([])


def test_a_bad_value_is_attributed_to_the_recipe_file_or_to_the_override(tmp_path):
    path = tmp_path / "zero.py"
    path.write_text(RECIPE_FILES["three.py"].replace("'three'", "0"))
    with pytest.raises(RecipeError, match=r"^recipe .*zero\.py: train\.epochs must be an integer >= 1, got 0$"):
        load_recipe(str(path))
    assert load_recipe(str(path), ["train.epochs=2"]).train.epochs == 2  # only the final recipe is checked


# === Through the CLI: exit code 2, one `error:` line, no traceback, nothing written ===

SETS = "from keras_clx import Recipe\n\ndef get_recipe():\n    r = Recipe()\n    {}\n    return r\n"
RECIPE_FILES = {
    "raises.py": "def get_recipe():\n    raise ValueError('no recipe today')\n",
    "argument.py": "def get_recipe(config):\n    return None\n",
    "returns_dict.py": "def get_recipe():\n    return {'train': {'epochs': 3}}\n",
    "exits.py": "import sys\n\ndef get_recipe():\n    sys.exit(0)\n",
    "exits_on_import.py": "import sys\nsys.exit(0)\n",
    "not_callable.py": "get_recipe = 3\n",
    "syntax.py": "def get_recipe(:\n",
    "three.py": SETS.format("r.train.epochs = 'three'"),
    "typo.py": SETS.format("r.train.epochz = 3"),
    "bad_base.py": "from keras_clx import base_recipe\n\ndef get_recipe():\n"
    "    return base_recipe(__file__, 'three')\n",
    "options.py": SETS.format("r.data.options = {'x': {1, 2}}"),
}

CLI_CASES = [
    (["raises.py"], "raises.py: get_recipe() raised ValueError: no recipe today"),
    (["argument.py"], "argument.py: get_recipe() must take no arguments, it is get_recipe(config)"),
    (["returns_dict.py"], "get_recipe() must return a keras_clx.Recipe, got dict"),
    (["exits.py"], "exits.py: get_recipe() called sys.exit(0)"),
    (["exits_on_import.py"], "exits_on_import.py: cannot load recipe: called sys.exit: 0"),
    (["not_callable.py"], "get_recipe must be a function, got int"),
    (["syntax.py"], "syntax.py: cannot load recipe: SyntaxError"),
    (["three.py"], "three.py: train.epochs must be an integer >= 1, got 'three'"),
    (["typo.py"], "typo.py: unknown recipe key 'train.epochz'; did you mean 'train.epochs'?"),
    (["bad_base.py"], "three.py: train.epochs must be an integer >= 1, got 'three'"),
    (["options.py"], "data.options must be a dict of JSON values"),
    (["demo", "--set", "train.batch_size=0"], "train.batch_size must be an integer >= 1"),
    (["demo", "--set", "model.sequence_length=0"], "model.sequence_length must be an integer >= 3"),
    (["demo", "--set", "model.dropout=1.5"], "model.dropout must be a finite number >= 0 and < 1"),
    (["demo", "--set", "train.self_training.k_per_class=0"], "train.self_training.k_per_class must be"),
    (["demo", "--set", "train.dtype_policy=bogus"], "train.dtype_policy must be one of"),
    (["demo", "--set", "train.epochs=0"], "train.epochs must be an integer >= 1, got 0"),
    (["demo", "--set", "train.epochs=-1"], "train.epochs must be an integer >= 1, got -1"),
    (["demo", "--set", "train.learning_rate=-1"], "train.learning_rate must be a finite number > 0"),
    (["demo", "--set", "train.warmup_ratio=5"], "train.warmup_ratio must be a finite number >= 0 and <= 1"),
    (["demo", "--set", "train.epsilon=1e999"], "train.epsilon must be a finite number > 0, got inf"),
    (["demo", "--set", "eval.split=train"], "eval.split must be dev or test"),
]


@pytest.fixture(scope="module")
def recipe_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    for name, text in RECIPE_FILES.items():
        (root / name).write_text(text)
    return root


@pytest.mark.one_backend
@pytest.mark.parametrize("args, message", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_hostile_recipes_fail_with_one_line_and_exit_code_2(args, message, recipe_dir, tmp_path):
    recipe = args[0] if args[0] == "demo" else str(recipe_dir / args[0])
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "keras_clx.cli", "--quiet", "fit", recipe, *args[1:], "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not out.exists()  # failed before anything was written


def test_every_recipe_error_is_a_clx_error():
    assert issubclass(RecipeError, ClxError) and RecipeError.exit_code == 2


@pytest.mark.one_backend
def test_ctrl_c_in_get_recipe_interrupts_and_exits_130(tmp_path):
    path = tmp_path / "interrupted.py"
    path.write_text("def get_recipe():\n    raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):  # not turned into a recipe error
        load_recipe(str(path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "keras_clx.cli", "fit", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 130 and result.stderr.strip() == "error: interrupted", result.stderr


def test_a_vocabulary_too_small_for_the_texts_characters_is_a_one_line_error():
    from keras_clx.models.backbones import build_backbone

    texts = ["abcdefghij klmnopqrst uvwxyz 0123456789"] * 20
    with pytest.raises(ClxError, match=r"model.vocabulary_size=16 is too small for this text: .*16 vs") as raised:
        build_backbone("xlmr_tiny", texts=texts, sequence_length=8, vocabulary_size=16)
    _assert_one_line(raised.value)
