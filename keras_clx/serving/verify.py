"""Verification of an exported SavedModel in a fresh process.

`python -m keras_clx.serving.verify SAVED_MODEL TEXTS.json RESULT.json` reloads the
SavedModel with nothing but `tensorflow` and `tensorflow_text` (and this module's
own stdlib-only imports), answers the texts and writes what it saw as JSON.
`verify_in_fresh_process` runs it; `check_signature` and `compare` hold its
answers against the serving contract and the trained model's answers.
"""

import json
import pathlib
import sys
import tempfile

from keras_clx.errors import ClxError
from keras_clx.serving.graph import OUTPUTS, serving_inputs, to_bytes, to_text


def verify_in_fresh_process(path, texts):
    """Reloads the SavedModel at `path` in a new Python (see the module docstring).

    Returns `signature` (`{"inputs": ..., "outputs": ...}`, name -> `[dtype, shape]`
    of `serving_default`), its `outputs` on `texts` (lists), `custom_ops` (the
    graph's ops that are not TensorFlow's) and `modules` (the top-level modules
    loaded, less the keras_clx modules that `python -m` loaded to start this one).
    """
    from keras_clx.serving.process import run_module

    with tempfile.TemporaryDirectory(prefix="keras_clx_verify_") as tmp:
        request, result = pathlib.Path(tmp) / "texts.json", pathlib.Path(tmp) / "result.json"
        request.write_text(json.dumps([[to_bytes(t).hex() for t in _columns(text)] for text in texts]))
        run_module(__spec__.name, path, request, result, backend="tensorflow", what="reloading the SavedModel")
        return json.loads(result.read_text())


def _columns(text):
    """A text, or a sentence pair `(text, text_pair)`, as a list of the inputs' strings."""
    return list(text) if isinstance(text, (tuple, list)) else [text]


def check_signature(task, signature):
    """Raises a `ClxError` unless `serving_default` has the contract's input and output dtypes."""
    inputs = signature["inputs"]
    expected_inputs = {name: ["string", [None]] for name in serving_inputs(task)}
    if inputs != expected_inputs:
        raise ClxError(f"verification failed: serving_default takes {inputs}, expected {expected_inputs}")
    got = {name: dtype for name, (dtype, _) in signature["outputs"].items()}
    expected = {name: dtype for name, (dtype, _) in OUTPUTS[task].items()}
    if got != expected:
        raise ClxError(f"verification failed: serving_default answers {got}, expected {expected}")


def compare(task, reference, outputs, texts):
    """Max abs difference between the reference and the SavedModel's probabilities.

    A structural mismatch (different words, shapes) is a `ClxError` naming the text.
    """
    import numpy as np

    if task in ("sequence", "pair"):
        expected = np.asarray(reference["probabilities"], dtype="float64")
        got = np.asarray(outputs["probabilities"], dtype="float64")
        if expected.shape != got.shape:
            raise ClxError(f"verification failed: probabilities of shape {got.shape}, expected {expected.shape}")
        return float(np.abs(expected - got).max()) if expected.size else 0.0
    worst = 0.0
    for i, (words, expected) in enumerate(zip(reference["words"], reference["probabilities"])):
        count = int(outputs["num_words"][i])
        served = [
            [to_text(outputs["words"][i][j]), int(outputs["word_start"][i][j]), int(outputs["word_end"][i][j])]
            for j in range(count)
        ]
        if served != [list(w) for w in words]:
            raise ClxError(
                f"verification failed: text {i} ({str(texts[i])[:40]!r}) is split into words "
                f"differently by the SavedModel"
            )
        if count:
            got = np.asarray(outputs["tag_probabilities"][i], dtype="float64")[:count]
            expected = np.asarray(expected, dtype="float64")
            if expected.shape != got.shape:
                raise ClxError(
                    f"verification failed: text {i} has tag probabilities of shape {got.shape}, "
                    f"expected {expected.shape}"
                )
            worst = max(worst, float(np.abs(expected - got).max()))
    return worst


# === The fresh process ===


def _describe(spec):
    return [spec.dtype.name, None if spec.shape.rank is None else spec.shape.as_list()]


def _plain(value):
    value = value.numpy()
    if value.dtype == object:
        return [[to_text(x) for x in row] for row in value] if value.ndim == 2 else [to_text(x) for x in value]
    return value.tolist()


def main(path, request, result):
    """Reloads the SavedModel at `path`, answers the texts of `request` and writes `result`."""
    launcher = {name for name in sys.modules if name.split(".")[0] == "keras_clx"}
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tf-text ops of the graph)
    from tensorflow.core.protobuf import saved_model_pb2

    texts = [[bytes.fromhex(t) for t in text] for text in json.loads(pathlib.Path(request).read_text())]
    signature = tf.saved_model.load(path).signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    names = sorted(inputs, key=lambda name: name != "text")  # text, then text_pair
    outputs = signature(**{name: tf.constant([t[k] for t in texts], tf.string) for k, name in enumerate(names)})
    graph = saved_model_pb2.SavedModel.FromString((pathlib.Path(path) / "saved_model.pb").read_bytes())
    ops = {n.op for g in graph.meta_graphs for n in g.graph_def.node} | {
        n.op for g in graph.meta_graphs for f in g.graph_def.library.function for n in f.node_def
    }
    pathlib.Path(result).write_text(
        json.dumps(
            {
                "custom_ops": sorted(op for op in ops if not hasattr(tf.raw_ops, op)),
                "signature": {
                    "inputs": {k: _describe(v) for k, v in inputs.items()},
                    "outputs": {k: _describe(v) for k, v in signature.structured_outputs.items()},
                },
                "outputs": {k: _plain(v) for k, v in outputs.items()},
                "modules": sorted({m.split(".")[0] for m in set(sys.modules) - launcher if not m.startswith("_")}),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
