import pytest

from keras_clx.errors import RecipeError
from keras_clx.recipes import Recipe, apply_overrides, list_recipes, load_recipe, valid_keys


def test_override_types_are_parsed_from_strings():
    recipe = apply_overrides(
        Recipe(),
        [
            "train.epochs=2",
            "train.learning_rate=1e-3",
            "data.targets=es, th",
            "train.self_training.enabled=true",
            "data.max_train_examples=none",
            "model.backbone=xlmr_tiny",
            "data.options.train_size=100",
        ],
    )
    assert recipe.train.epochs == 2
    assert recipe.train.learning_rate == pytest.approx(1e-3)
    assert recipe.data.targets == ["es", "th"]
    assert recipe.train.self_training.enabled is True
    assert recipe.data.max_train_examples is None
    assert recipe.model.backbone == "xlmr_tiny"
    assert recipe.data.options == {"train_size": 100}


def test_integer_learning_rate_becomes_float():
    assert apply_overrides(Recipe(), ["train.learning_rate=1"]).train.learning_rate == 1.0


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epoch=2", "did you mean 'train.epochs'"),
        ("trian.epochs=2", "did you mean 'train.epochs'"),
        ("train.epochs=two", "expects an integer"),
        ("train.self_training.enabled=maybe", "expects true or false"),
        ("train.epochs", "not of the form key=value"),
        ("train=1", "is a section"),
        ("model.sequence_length=none", "cannot be none"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(RecipeError, match=message):
        apply_overrides(Recipe(), [override])


def test_valid_keys_are_dotted_paths():
    keys = valid_keys(Recipe())
    assert "train.epochs" in keys and "train.self_training.k_per_class" in keys
    assert "train" not in keys


def test_json_round_trip(tmp_path):
    recipe = apply_overrides(Recipe(description="x"), ["train.epochs=7", "data.options.seed=3"])
    recipe.to_json(tmp_path / "recipe.json")
    assert Recipe.from_json(tmp_path / "recipe.json") == recipe


def test_bundled_recipes_load_and_describe_themselves():
    items = dict(list_recipes())
    assert {"demo", "mtod"} <= set(items)
    assert all(description and not description.startswith("(broken") for description in items.values())
    assert load_recipe("demo").data.dataset == "demo"
    assert load_recipe("recipes/mtod.py", ["train.epochs=1"]).train.epochs == 1


def test_recipe_file_errors(tmp_path):
    with pytest.raises(RecipeError, match="not found; bundled recipes: .*demo"):
        load_recipe(str(tmp_path / "missing.py"))
    no_function = tmp_path / "empty.py"
    no_function.write_text("x = 1\n")
    with pytest.raises(RecipeError, match="must define get_recipe"):
        load_recipe(str(no_function))
    broken = tmp_path / "broken.py"
    broken.write_text("def get_recipe(:\n")
    with pytest.raises(RecipeError, match="broken.py: cannot load recipe: SyntaxError"):
        load_recipe(str(broken))
    wrong_type = tmp_path / "wrong.py"
    wrong_type.write_text("def get_recipe():\n    return {}\n")
    with pytest.raises(RecipeError, match="must return a keras_clx.Recipe"):
        load_recipe(str(wrong_type))


def test_recipes_derive_from_the_recipe_beside_them(tmp_path):
    (tmp_path / "base.py").write_text(
        "from keras_clx import Recipe\n\n"
        "def get_recipe():\n"
        "    recipe = Recipe(description='base')\n"
        "    recipe.train.epochs = 7\n"
        "    return recipe\n"
    )
    (tmp_path / "derived.py").write_text(
        "from keras_clx import base_recipe\n\n"
        "def get_recipe():\n"
        "    recipe = base_recipe(__file__, 'base', 'derived')\n"
        "    recipe.train.perturbation = 'adversarial'\n"
        "    return recipe\n"
    )
    recipe = load_recipe(str(tmp_path / "derived.py"), ["train.epsilon=0.5"])
    assert (recipe.description, recipe.train.epochs, recipe.train.perturbation, recipe.train.epsilon) == (
        "derived",
        7,
        "adversarial",
        0.5,
    )
    assert load_recipe(str(tmp_path / "base.py")).train.perturbation == "none"
    (tmp_path / "orphan.py").write_text(
        "from keras_clx import base_recipe\n\ndef get_recipe():\n    return base_recipe(__file__, 'nothing')\n"
    )
    with pytest.raises(RecipeError, match="nothing.py"):
        load_recipe(str(tmp_path / "orphan.py"))
    assert load_recipe("mtod_adv_sl").train.self_training.enabled and load_recipe("mtod_adv_sl").data.dataset == "mtod"
