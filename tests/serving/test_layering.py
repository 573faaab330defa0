"""The serving package sits on top: the layers below it never import it."""

import ast
import pathlib

import keras_clx

PACKAGE = pathlib.Path(keras_clx.__file__).parent


def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_lower_layers_do_not_import_serving():
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for layer in ("training", "models", "data", "evaluation")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module in _imported_modules(path)
        if module == "keras_clx.serving" or module.startswith("keras_clx.serving.")
    ]
    assert (PACKAGE / "training").is_dir() and (PACKAGE / "serving" / "export.py").is_file()
    assert offenders == []
