"""TF Serving's directory layout: `BASE/NAME/VERSION/`, one numbered directory per version."""

import pathlib
import re

from keras_clx.errors import ClxError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def versions(model_dir):
    """The numbered versions in `model_dir`, ascending (TF Serving ignores other names)."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def target_dir(out_dir, name, version=None, overwrite=False):
    """`(out_dir/name/version, version)`; the next free version when `version` is None."""
    if not _NAME.match(name):
        raise ClxError(f"model name {name!r} must be letters, digits, '.', '_' or '-' (it is part of TF Serving's URL)")
    model_dir = pathlib.Path(out_dir) / name
    if version is None:
        existing = versions(model_dir)
        version = existing[-1] + 1 if existing else 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ClxError(f"--version must be a non-negative integer, got {version!r}")
    path = model_dir / str(version)
    if path.exists() and not overwrite:
        raise ClxError(f"{path} already exists; choose another --version or pass --overwrite")
    return path, version


def default_name(run_dir):
    """A model name from a run directory's name (characters TF Serving's URL cannot hold -> `_`)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", pathlib.Path(run_dir).resolve().name).strip("._-")
    return name or "model"


def resolve_saved_model(path):
    """A version directory; for a model directory (`out/name`), its highest version."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    existing = versions(path)
    if existing and (path / str(existing[-1]) / "saved_model.pb").is_file():
        return path / str(existing[-1])
    raise ClxError(f"{path} is not a SavedModel (no saved_model.pb) nor a model directory with numbered versions")
