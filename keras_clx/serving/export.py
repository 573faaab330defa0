"""Export a run directory for TF Serving, verified, as `out_dir/NAME/VERSION/`.

The graph (`graph.write_saved_model`) is always built by the TensorFlow backend:
in this process when it runs TensorFlow, else in a `KERAS_BACKEND=tensorflow`
subprocess (`python -m keras_clx.serving.export REQUEST.json`) that loads the
run's `model.keras` (runs trained on JAX or torch, or when export in this
process fails). The version directory appears only once the export is verified
(`verify.py`): reloaded in a fresh process, its answers on a sample of texts are
compared with the trained model's, computed by the backend that trained the
run. Above `tolerance` (max abs difference of the probabilities) nothing is
written. Keras is imported inside functions.
"""

import dataclasses
import importlib.util
import json
import pathlib
import shutil
import sys
import tempfile

from keras_clx.console import log
from keras_clx.errors import ClxError
from keras_clx.serving.graph import METADATA_FILE, OUTPUTS, write_saved_model
from keras_clx.serving.layout import default_name, target_dir
from keras_clx.serving.process import run_module
from keras_clx.serving.runs import (
    check_run_dir,
    load_run_checked,
    reference_outputs,
    run_info,
    sample_texts,
)
from keras_clx.serving.verify import check_signature, compare, verify_in_fresh_process

TOLERANCE = 1e-4


@dataclasses.dataclass
class ExportResult:
    """What `export_run` wrote and how it checked it.

    Attributes:
        path: the version directory (`out_dir/name/version`).
        name, version: the TF Serving model name and version.
        task: `"sequence"` or `"token"`.
        method: `"direct"` (built by this TensorFlow process) or `"re-export"`
            (built by a `KERAS_BACKEND=tensorflow` subprocess from `model.keras`).
        reference_backend: the backend whose predictions were the reference.
        max_abs_difference: the largest difference of a probability between the
            reloaded SavedModel and the trained model on `texts`.
        texts: the verification texts.
        outputs: the reloaded SavedModel's outputs on `texts` (NumPy arrays).
        signature: `{"inputs": {...}, "outputs": {...}}`, name -> `(dtype, shape)`
            of `serving_default` as the fresh process saw it.
        custom_ops: the graph's ops that are not TensorFlow's (tf-text's): a TF
            Serving binary must have them registered.
        modules: the top-level modules that fresh process loaded (`verify.py`).
    """

    path: pathlib.Path
    name: str
    version: int
    task: str
    method: str
    reference_backend: str
    max_abs_difference: float
    texts: list
    outputs: dict
    signature: dict
    custom_ops: list
    modules: list

    def summary(self):
        return (
            f"verified on {len(self.texts)} texts: max abs difference "
            f"{self.max_abs_difference:.2e} (tolerance {TOLERANCE:.0e}, reference: {self.reference_backend})"
        )


# === Another backend's process ===


def run_in_backend(command, backend, **request):
    """Runs `command` (`"write"` or `"reference"`, see `_main`) in a `KERAS_BACKEND=backend`
    subprocess; returns its JSON answer."""
    with tempfile.TemporaryDirectory(prefix="keras_clx_export_") as tmp:
        request_file, result_file = pathlib.Path(tmp) / "request.json", pathlib.Path(tmp) / "result.json"
        request_file.write_text(json.dumps({"command": command, "result": str(result_file), **request}))
        run_module(__spec__.name, request_file, backend=backend, what=f"the {backend} {command} subprocess")
        return json.loads(result_file.read_text())


def _main(request_file):
    """The subprocess: writes the SavedModel of `run` to `path`, or answers `texts` (the reference)."""
    request = json.loads(pathlib.Path(request_file).read_text())
    run = load_run_checked(request["run"])
    if request["command"] == "write":
        write_saved_model(run, request["path"])
        answer = {}
    else:
        answer = reference_outputs(run, request["texts"])
    pathlib.Path(request["result"]).write_text(json.dumps(answer))


def _backend_available(backend):
    return backend == "tensorflow" or importlib.util.find_spec(backend) is not None


# === Export ===


def export_run(
    run_dir,
    out_dir,
    name=None,
    version=None,
    overwrite=False,
    texts=None,
    sample_size=32,
    tolerance=TOLERANCE,
    verbose=1,
):
    """Exports a run directory to `out_dir/name/version` and verifies it.

    Args:
        run_dir: a run directory written by `experiment.fit` (any backend).
        out_dir: the models' base directory (TF Serving's `--model_base_path` is
            `out_dir/name`).
        name: the model name (default: the run directory's name).
        version: an integer (default: one more than the highest in `out_dir/name`).
        overwrite: replace an existing version directory.
        texts: texts to verify on (default: `sample_size` texts of the run's data,
            an empty text and one longer than the sequence length).
        tolerance: the largest max abs difference of a probability accepted.
        verbose: 0 silent, 1 phase lines on stderr.

    Returns:
        An `ExportResult`. Raises `ClxError` if the run is incomplete, the version
        exists (without `overwrite`) or the verification fails.
    """
    run_dir = check_run_dir(run_dir)
    recipe, trained_on = run_info(run_dir)
    task = recipe.get("data", {}).get("task", "sequence")
    if task not in OUTPUTS:
        raise ClxError(f"cannot export task {task!r}; tasks: {sorted(OUTPUTS)}")
    name = name or default_name(run_dir)
    path, version = target_dir(out_dir, name, version, overwrite)
    if texts is None:
        texts = sample_texts(recipe, recipe.get("model", {}).get("sequence_length", 64), sample_size)
    texts = [tuple(str(x) for x in t) if isinstance(t, (tuple, list)) else str(t) for t in texts]
    if task != "pair":
        texts = ["\t".join(t) if isinstance(t, tuple) else t for t in texts]
    if task == "pair" and not all(isinstance(t, tuple) and len(t) == 2 for t in texts):
        raise ClxError("a sentence-pair model is verified on pairs: give text<TAB>second text lines")
    if not texts:
        raise ClxError("no texts to verify the export on")

    import keras

    current = keras.backend.backend()
    reference_backend = trained_on if trained_on and _backend_available(trained_on) else current
    run = None
    if current in (reference_backend, "tensorflow"):
        run = load_run_checked(run_dir)
    if reference_backend == current:
        reference = reference_outputs(run, texts)
    else:
        reference = run_in_backend("reference", reference_backend, run=str(run_dir), texts=texts)
    log(f"reference: the trained model's predictions on {len(texts)} texts ({reference_backend})", verbose)

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=path.parent))
    try:
        method = "direct" if current == "tensorflow" else "re-export"
        if current == "tensorflow":
            try:
                write_saved_model(run, staging / "model")
            except ClxError:
                raise
            except Exception as error:  # a clean TensorFlow process may succeed where this one failed
                log(f"export in this process failed ({type(error).__name__}: {error}); re-exporting", verbose)
                shutil.rmtree(staging / "model", ignore_errors=True)
                method = "re-export"
        if method == "re-export":
            run_in_backend("write", "tensorflow", run=str(run_dir), path=str(staging / "model"))
        log(
            f"SavedModel written ({method}, trained on {trained_on or 'unknown'}); reloading in a fresh process",
            verbose,
        )

        verified = verify_in_fresh_process(staging / "model", texts)
        check_signature(task, verified["signature"])
        difference = compare(task, reference, verified["outputs"], texts)
        if not difference <= tolerance:
            raise ClxError(
                f"verification failed: max abs difference {difference:.2e} > {tolerance:.0e} "
                f"between the SavedModel and the trained model on {len(texts)} texts"
            )
        result = ExportResult(
            path=path,
            name=name,
            version=version,
            task=task,
            method=method,
            reference_backend=reference_backend,
            max_abs_difference=difference,
            texts=texts,
            outputs=_to_numpy(task, verified["outputs"]),
            signature=verified["signature"],
            custom_ops=verified["custom_ops"],
            modules=verified["modules"],
        )
        metadata = _metadata(run_dir, recipe, result, trained_on, tolerance)
        (staging / "model" / METADATA_FILE).parent.mkdir(exist_ok=True)
        (staging / "model" / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        if path.exists():
            shutil.rmtree(path)
        (staging / "model").rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"exported {path}: {result.summary()}", verbose)
    return result


def _to_numpy(task, outputs):
    import numpy as np

    dtypes = {name: "object" if dtype == "string" else dtype for name, (dtype, _) in OUTPUTS[task].items()}
    return {name: np.asarray(value, dtype=dtypes.get(name)) for name, value in outputs.items()}


def _metadata(run_dir, recipe, result, trained_on, tolerance):
    """`assets.extra/keras_clx.json`: what was exported from where, and how it was verified."""
    from keras_clx import __version__

    labels = json.loads((run_dir / "labels.json").read_text())["labels"]
    tags = None
    if result.task in ("token", "tagging"):
        from keras_clx.data.iob import IOBLabels, PlainTags

        tags = (IOBLabels if result.task == "token" else PlainTags)(labels).names
    return {
        "task": result.task,
        "labels": labels,
        "tags": tags,
        "sequence_length": recipe.get("model", {}).get("sequence_length"),
        "backbone": recipe.get("model", {}).get("backbone"),
        "trained_dtype_policy": recipe.get("train", {}).get("dtype_policy"),  # served in float32
        "run": str(run_dir.resolve()),
        "trained_backend": trained_on,
        "method": result.method,
        "signature": result.signature,
        "custom_ops": result.custom_ops,  # what a TF Serving binary must have registered
        "verification": {
            "texts": len(result.texts),
            "max_abs_difference": result.max_abs_difference,
            "tolerance": tolerance,
            "reference_backend": result.reference_backend,
        },
        "keras_clx": __version__,
    }


if __name__ == "__main__":
    try:
        _main(sys.argv[1])
    except ClxError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
