"""The package's layers (docs/architecture.md) import down, never up, and files stay short."""

import ast
import pathlib

import pytest

import keras_clx

PACKAGE = pathlib.Path(keras_clx.__file__).parent
BASE = {"errors", "console", "api_export", "rows"}
# What each lower layer may import from keras_clx (besides itself and the base modules).
ALLOWED = {
    "data": set(),
    # the classifier owns its transfer step (`training/steps`), as a Keras model owns its trainer
    "models": {"data", "training"},
    "evaluation": {"data", "run_dir"},
    "training": {"data", "evaluation", "run_dir"},
    "pretraining": {"data", "models", "evaluation", "training"},
}


def _imports(path):
    """`(module, inside_a_function)` for every keras_clx import of `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "keras_clx" else [f"keras_clx.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("keras_clx."):
                yield name.split(".")[1], id(node) in nested


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_import_only_layers_below(layer):
    allowed = ALLOWED[layer] | BASE | {layer, "__version__"}
    offenders = [
        f"{path.relative_to(PACKAGE)} imports keras_clx.{module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module, _ in _imports(path)
        if module not in allowed
    ]
    assert offenders == []


def test_base_modules_import_nothing_from_the_package():
    offenders = [
        f"{name}.py imports keras_clx.{module}"
        for name in sorted(BASE)
        for module, _ in _imports(PACKAGE / f"{name}.py")
    ]
    assert offenders == []


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
