"""Export a run for TF Serving: a SavedModel that takes raw strings.

`export_run(run_dir, out_dir)` writes `out_dir/NAME/VERSION/`, the layout TF
Serving loads, with two signatures:

- `serving_default`: input `text`, `tf.string` of shape `[None]`; tokenisation runs
  in the graph (the run's keras-hub tokenizer, tf-text ops, packed as its
  preprocessor packs one segment), then the model. Outputs: `SEQUENCE_OUTPUTS`
  or `TOKEN_OUTPUTS`; token tasks split words as `iob.split_words` and tag each
  word at its first sub-word, as `data/token_pipeline.py` does in training.
- `model`: the classifier alone, int32 `[None, sequence_length]` inputs
  (`token_ids`, `padding_mask`, and `segment_ids` for BERT) -> logits.

The graph is always built by the TensorFlow backend (plain TF ops, servable by
any TF Serving with the tf-text ops): in this process when it runs TensorFlow,
else in a `KERAS_BACKEND=tensorflow` subprocess that loads the run's
`model.keras` (runs trained on JAX or torch, or when export in this process
fails). The version directory appears only once the export is verified: the
SavedModel is reloaded in a fresh process that imports only `tensorflow` and
`tensorflow_text`, and its answers on a sample of texts are compared with the
trained model's, computed by the backend that trained the run. Above
`tolerance` (max abs difference of the probabilities) nothing is written.

Inputs are sanitised in the graph: invalid UTF-8 bytes become U+FFFD (as
`bytes.decode("utf-8", errors="replace")`); texts longer than the sequence
length are truncated; an empty text is classified as an empty token sequence
(sequence tasks) or has no words (token tasks).

This module imports Keras only inside functions, so that the verification and
`predict_saved_model` need nothing but TensorFlow and tf-text.
"""

import dataclasses
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from keras_clx.errors import ClxError

TOLERANCE = 1e-4
INPUT_NAME = "text"
MODEL_ENDPOINT = "model"
METADATA_FILE = pathlib.Path("assets.extra") / "keras_clx.json"

# Output name -> (dtype, shape); C classes, T tags, W words, S spans per text.
SEQUENCE_OUTPUTS = {
    "probabilities": ("float32", [None, "C"]),
    "label_id": ("int32", [None]),
    "label": ("string", [None]),
}
TOKEN_OUTPUTS = {
    "words": ("string", [None, "W"]),
    "word_start": ("int32", [None, "W"]),
    "word_end": ("int32", [None, "W"]),
    "tag_id": ("int32", [None, "W"]),
    "tag": ("string", [None, "W"]),
    "tag_probabilities": ("float32", [None, "W", "T"]),
    "num_words": ("int32", [None]),
    "span_start": ("int32", [None, "S"]),
    "span_end": ("int32", [None, "S"]),
    "span_label": ("string", [None, "S"]),
    "span_text": ("string", [None, "S"]),
    "num_spans": ("int32", [None]),
}
OUTPUTS = {"sequence": SEQUENCE_OUTPUTS, "token": TOKEN_OUTPUTS}

# `iob.split_words` in RE2: a word is a run of letters, marks and digits; any
# other non-space character is a word of its own; `str.isspace()` characters
# separate (they are exactly \t \n \v \f \r, U+001C..U+001F, U+0085 and \p{Z}).
_SPACE = r"\t\n\x{0B}\f\r\x{1C}-\x{1F}\x{85}\p{Z}"
_WORD_DELIMITER = rf"[{_SPACE}]|[^\pL\pM\pN{_SPACE}]"
_KEPT_DELIMITER = rf"[^\pL\pM\pN{_SPACE}]"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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
        modules: the top-level modules that fresh process had loaded.
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


def _log(message, verbose):
    if verbose:
        print(f"[keras-clx] {message}", file=sys.stderr, flush=True)


# === Run directory and target ===


def check_run_dir(run_dir):
    """Raises a one-line `ClxError` unless `run_dir` holds a trained run."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise ClxError(f"run directory {run_dir} does not exist")
    if (run_dir / "leave_one_out.json").is_file():
        from keras_clx.multisource import sub_run_dirs

        subs = ", ".join(str(d) for d in sub_run_dirs(run_dir))
        raise ClxError(f"{run_dir} is a leave-one-out run with one model per target: export one of {subs}")
    for name in ("recipe.json", "labels.json"):
        if not (run_dir / name).is_file():
            raise ClxError(f"{run_dir} is not a run directory: {name} is missing")
    weights = run_dir / "model.keras"
    if not weights.is_file() or weights.stat().st_size == 0:
        raise ClxError(f"{run_dir} has no trained weights (model.keras is missing); train it with `keras-clx fit`")
    return run_dir


def run_info(run_dir):
    """`(recipe dict, training backend or None)` of a run directory."""
    run_dir = pathlib.Path(run_dir)
    recipe = json.loads((run_dir / "recipe.json").read_text())
    backend = None
    metrics = run_dir / "metrics.json"
    if metrics.is_file():
        try:
            backend = json.loads(metrics.read_text()).get("backend")
        except ValueError:
            backend = None
    return recipe, backend


def _numeric_versions(model_dir):
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def target_dir(out_dir, name, version=None, overwrite=False):
    """`out_dir/name/version`; the next free version when `version` is None."""
    if not _NAME.match(name):
        raise ClxError(f"model name {name!r} must be letters, digits, '.', '_' or '-' (it is part of TF Serving's URL)")
    model_dir = pathlib.Path(out_dir) / name
    if version is None:
        versions = _numeric_versions(model_dir)
        version = versions[-1] + 1 if versions else 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ClxError(f"--version must be a non-negative integer, got {version!r}")
    path = model_dir / str(version)
    if path.exists() and not overwrite:
        raise ClxError(f"{path} already exists; choose another --version or pass --overwrite")
    return path, version


def default_name(run_dir):
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", pathlib.Path(run_dir).resolve().name).strip("._-")
    return name or "model"


# === Verification texts ===


def sample_texts(recipe, sequence_length, size=32, seed=0):
    """Up to `size` texts of the run's data (dev, else test, split of every
    language, taken in turn), plus an empty text and one longer than the sequence length."""
    from keras_clx.data.datasets import load_corpus
    from keras_clx.recipes import Recipe

    recipe = Recipe.from_dict(recipe)
    try:
        corpus = load_corpus(recipe.data, seed=seed)
    except ClxError as error:
        raise ClxError(f"cannot load the run's data to verify the export ({error}); pass texts to verify on "
                       f"(--verify-input FILE)") from None
    pools = []
    for lang in corpus.sources + corpus.targets:
        data = corpus.languages[lang]
        pool = [e.text for e in (data.dev or data.test or data.unlabeled) if e.text.strip()]
        if pool:
            pools.append(pool)
    texts = []
    for i in range(max((len(p) for p in pools), default=0)):
        texts.extend(p[i] for p in pools if i < len(p))
        if len(texts) >= size:
            break
    texts = texts[:size]
    long_text = " ".join(texts or ["long"])
    while len(long_text.split()) < 4 * sequence_length:
        long_text = f"{long_text} {long_text}"
    return texts + ["", long_text]


# === Building the SavedModel (TensorFlow backend) ===


def _sanitize(text):
    import tensorflow as tf

    return tf.strings.unicode_transcode(
        text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD, replace_control_characters=False
    )


def _pack(pieces, tokenizer, length):
    """`[start] + the first length - 2 pieces + [end]`, padded to `length`: what
    keras-hub's `MultiSegmentPacker` does with one segment, in core TF ops (TF
    Serving links older TF Text releases, which lack its `TFText>RoundRobinTrim`)."""
    import tensorflow as tf

    batch = tf.cast(pieces.nrows(), tf.int32)
    ids = tf.cast(pieces[:, : length - 2], tf.int32)
    start = tf.fill(tf.stack([batch, 1]), tf.constant(tokenizer.start_token_id, tf.int32))
    end = tf.fill(tf.stack([batch, 1]), tf.constant(tokenizer.end_token_id, tf.int32))
    packed = tf.concat([start, ids, end], axis=1)
    token_ids = packed.to_tensor(default_value=tokenizer.pad_token_id, shape=[None, length])
    return {
        "token_ids": token_ids,
        "padding_mask": tf.ones_like(packed).to_tensor(default_value=0, shape=[None, length]),
        "segment_ids": tf.zeros_like(token_ids),
    }


def _sequence_outputs(text, tokenizer, sequence_length, classify, input_names, label_names):
    import tensorflow as tf

    x = _pack(tokenizer(_sanitize(text)), tokenizer, sequence_length)
    logits = classify({name: x[name] for name in input_names})
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {
        "probabilities": probabilities,
        "label_id": label_id,
        "label": tf.gather(tf.constant(label_names), label_id),
    }


def tag_entities(tag_id, first):
    """Chunks IOB2 tag ids as `iob.tag_chunks` (seqeval's default mode), in the graph.

    Args:
        tag_id: int32 `[n]`, the words of a batch one text after another;
            `O` = 0, `B-k` = 1 + 2k, `I-k` = 2 + 2k (`iob.IOBLabels`).
        first: bool `[n]`, true at the first word of each text.

    Returns:
        `(begins, entity)`: bool `[n]`, true where an entity starts (at `B-k`,
        or at `I-k` after `O` or another type), and int32 `[n]`, the index of
        each word's entity in the batch (-1 for `O`).
    """
    import tensorflow as tf

    previous = tf.pad(tag_id, [[1, 0]])[:-1]
    previous = tf.where(first, tf.zeros_like(previous), previous)
    kind = (tag_id - 1) // 2
    inside = tag_id > 0
    begins = inside & (((tag_id - 1) % 2 == 0) | (previous == 0) | ((previous - 1) // 2 != kind))
    entity = tf.cumsum(tf.cast(begins, tf.int32)) - 1
    return begins, tf.where(inside, entity, -tf.ones_like(entity))


def _token_outputs(text, tokenizer, sequence_length, classify, input_names, tag_names, span_types):
    """Splits words as `iob.split_words`, tokenises word by word and packs as
    `data/token_pipeline.py`, tags each word at its first sub-word and chunks
    the tags into spans as `iob.tag_chunks` (seqeval's default mode)."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    text = _sanitize(text)
    batch = tf.shape(text, out_type=tf.int64)[0]
    length = sequence_length
    words, byte_start, byte_end = tf_text.regex_split_with_offsets(text, _WORD_DELIMITER, _KEPT_DELIMITER)
    rows = words.value_rowids()
    flat_words = words.flat_values
    n = tf.shape(flat_words, out_type=tf.int64)[0]
    byte_start, byte_end = byte_start.flat_values, byte_end.flat_values
    # Character (code point) offsets, as Python's `str` indices.
    before = tf.strings.substr(tf.gather(text, rows), tf.zeros_like(byte_start), byte_start)
    word_start = tf.strings.length(before, unit="UTF8_CHAR")
    word_end = word_start + tf.strings.length(flat_words, unit="UTF8_CHAR")

    # === Sub-words, packed as one segment ===
    pieces = tokenizer(flat_words)  # [n, (pieces)]
    counts = tf.cast(pieces.row_lengths(), tf.int32)
    x = _pack(tf.RaggedTensor.from_row_splits(pieces, words.row_splits).merge_dims(1, 2), tokenizer, length)
    logits = classify({name: x[name] for name in input_names})
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)  # [batch, length, T]

    # === One prediction per word, at its first sub-word ===
    cumulative = tf.concat([[0], tf.cumsum(counts)], axis=0)
    first_in_row = tf.gather(words.row_starts(), rows)
    position = 1 + tf.gather(cumulative, tf.range(n)) - tf.gather(cumulative, first_in_row)
    tagged = (counts > 0) & (position < length - 1)
    at_word = tf.gather_nd(probabilities, tf.stack([rows, tf.cast(tf.minimum(position, length - 1), tf.int64)], 1))
    outside = tf.one_hot(0, len(tag_names), dtype=tf.float32)
    word_probabilities = tf.where(tagged[:, None], at_word, outside[None, :])
    tag_id = tf.argmax(word_probabilities, axis=-1, output_type=tf.int32)

    # === Spans ===
    begins, entity = tag_entities(tag_id, tf.range(n) == first_in_row)
    inside = entity >= 0
    kind = (tag_id - 1) // 2
    entity = tf.boolean_mask(entity, inside)
    num_entities = tf.reduce_sum(tf.cast(begins, tf.int32))

    def per_entity(reduce, values):
        return reduce(tf.boolean_mask(values, inside), entity, num_entities)

    span_rows = tf.boolean_mask(rows, begins)
    span_byte_start = per_entity(tf.math.unsorted_segment_min, byte_start)
    span_byte_end = per_entity(tf.math.unsorted_segment_max, byte_end)

    def by_word(values, default):
        return tf.RaggedTensor.from_row_splits(values, words.row_splits).to_tensor(default_value=default)

    def by_span(values, default):
        return tf.RaggedTensor.from_value_rowids(values, span_rows, nrows=batch).to_tensor(default_value=default)

    return {
        "words": by_word(flat_words, ""),
        "word_start": by_word(word_start, -1),
        "word_end": by_word(word_end, -1),
        "tag_id": by_word(tag_id, -1),
        "tag": by_word(tf.gather(tf.constant(tag_names), tag_id), ""),
        "tag_probabilities": by_word(word_probabilities, 0.0),
        "num_words": tf.cast(words.row_lengths(), tf.int32),
        "span_start": by_span(per_entity(tf.math.unsorted_segment_min, word_start), -1),
        "span_end": by_span(per_entity(tf.math.unsorted_segment_max, word_end), -1),
        "span_label": by_span(tf.gather(tf.constant(span_types), tf.boolean_mask(kind, begins)), ""),
        "span_text": by_span(
            tf.strings.substr(tf.gather(text, span_rows), span_byte_start, span_byte_end - span_byte_start), ""
        ),
        "num_spans": tf.math.unsorted_segment_sum(tf.ones_like(span_rows, tf.int32), span_rows, batch),
    }


def write_saved_model(run, path):
    """Writes the SavedModel of a loaded `Run` to `path` (TensorFlow backend only)."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("write_saved_model needs the TensorFlow backend")
    model, task = run.model, run.recipe.data.task
    preprocessor = model.preprocessor
    if preprocessor is None:
        raise ClxError(f"{run.directory}: the model has no preprocessor to tokenise raw strings")
    if not preprocessor.built:
        preprocessor.build(None)
    length = preprocessor.sequence_length
    input_names = sorted(model.input)
    archive = keras.export.ExportArchive()
    archive.track(preprocessor)
    classify = archive.track_and_add_endpoint(
        MODEL_ENDPOINT, model,
        input_signature=[{name: tf.TensorSpec([None, length], tf.int32, name=name) for name in input_names}],
    )
    if task == "sequence":
        def outputs(text):
            return _sequence_outputs(text, preprocessor.tokenizer, length, classify, input_names, run.labels.names)
    elif task == "token":
        from keras_clx.data.iob import IOBLabels

        tags = IOBLabels(run.labels.names)

        def outputs(text):
            return _token_outputs(text, preprocessor.tokenizer, length, classify, input_names, tags.names, tags.types)
    else:
        raise ClxError(f"cannot export task {task!r}; tasks: {sorted(OUTPUTS)}")

    serve = tf.function(outputs, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    archive.add_endpoint("serving_default", serve)
    archive.write_out(str(path), verbose=False)


def load_run_checked(run_dir):
    """`experiment.load_run`, with a one-line error for a model file Keras cannot read.

    A model trained under a mixed policy (`train.dtype_policy`, e.g. `mixed_bfloat16`)
    computes in float32 here: its variables are float32, the reference and the export
    then agree across backends within the tolerance, and CPU servers run float32 best.
    """
    import zipfile

    from keras_clx import experiment

    try:
        run = experiment.load_run(run_dir)
    except ClxError:
        raise
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as error:
        raise ClxError(f"cannot load {pathlib.Path(run_dir) / 'model.keras'}: {type(error).__name__}: {error}") from None
    for layer in run.model._flatten_layers(include_self=True):
        policy = layer.dtype_policy
        if policy.variable_dtype == "float32" and policy.compute_dtype in ("bfloat16", "float16"):
            layer.dtype_policy = "float32"
    return run


# === Reference predictions (any backend) ===


def reference_outputs(run, texts):
    """The trained model's answers on `texts`: JSON-able, per task."""
    from keras_clx.data.records import Example

    examples = [Example(t, "unknown", str(i)) for i, t in enumerate(texts)]
    batch = run.recipe.eval.batch_size
    if run.recipe.data.task == "token":
        words = run.task.predict_words(run.model, examples, batch)
        return {
            "words": [[list(w) for w in text_words] for text_words, _ in words],
            "probabilities": [p.tolist() for _, p in words],
        }
    return {"probabilities": run.task.predict_proba(run.model, examples, batch).tolist()}


def compare(task, reference, outputs, texts):
    """Max abs difference between the reference and the SavedModel's probabilities.

    A structural mismatch (different words, shapes) is a `ClxError` naming the text.
    """
    import numpy as np

    if task == "sequence":
        expected = np.asarray(reference["probabilities"], dtype="float64")
        got = np.asarray(outputs["probabilities"], dtype="float64")
        if expected.shape != got.shape:
            raise ClxError(f"verification failed: probabilities of shape {got.shape}, expected {expected.shape}")
        return float(np.abs(expected - got).max()) if expected.size else 0.0
    worst = 0.0
    for i, (words, expected) in enumerate(zip(reference["words"], reference["probabilities"])):
        count = int(outputs["num_words"][i])
        served = [
            [_text(outputs["words"][i][j]), int(outputs["word_start"][i][j]), int(outputs["word_end"][i][j])]
            for j in range(count)
        ]
        if served != [list(w) for w in words]:
            raise ClxError(f"verification failed: text {i} ({texts[i][:40]!r}) is split into words "
                           f"differently by the SavedModel")
        if count:
            got = np.asarray(outputs["tag_probabilities"][i], dtype="float64")[:count]
            expected = np.asarray(expected, dtype="float64")
            if expected.shape != got.shape:
                raise ClxError(f"verification failed: text {i} has tag probabilities of shape {got.shape}, "
                               f"expected {expected.shape}")
            worst = max(worst, float(np.abs(expected - got).max()))
    return worst


# === Subprocesses ===


_VERIFY = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the tf-text ops of the graph

path, request, result = sys.argv[1:]
texts = [bytes.fromhex(t) for t in json.load(open(request))]
signature = tf.saved_model.load(path).signatures["serving_default"]

def describe(spec):
    return [spec.dtype.name, None if spec.shape.rank is None else spec.shape.as_list()]

_, inputs = signature.structured_input_signature
outputs = signature(**{name: tf.constant(texts, tf.string) for name in inputs})

def plain(value):
    value = value.numpy()
    if value.dtype == object:
        return [[x.decode("utf-8") for x in row] for row in value] if value.ndim == 2 else [
            x.decode("utf-8") for x in value]
    return value.tolist()

from tensorflow.core.protobuf import saved_model_pb2

graph = saved_model_pb2.SavedModel.FromString(open(path + "/saved_model.pb", "rb").read())
ops = {n.op for g in graph.meta_graphs for n in g.graph_def.node} | {
    n.op for g in graph.meta_graphs for f in g.graph_def.library.function for n in f.node_def}

json.dump({
    "custom_ops": sorted(op for op in ops if not hasattr(tf.raw_ops, op)),
    "signature": {
        "inputs": {k: describe(v) for k, v in inputs.items()},
        "outputs": {k: describe(v) for k, v in signature.structured_outputs.items()},
    },
    "outputs": {k: plain(v) for k, v in outputs.items()},
    "modules": sorted({m.split(".")[0] for m in sys.modules if not m.startswith("_")}),
}, open(result, "w"))
"""


def _subprocess_env(backend=None):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def _run(args, env, what):
    process = subprocess.run(args, env=env, capture_output=True, text=True)
    if process.returncode == 0:
        return
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
    if errors:
        raise ClxError(errors[-1])
    tail = "\n".join(lines[-15:])
    raise RuntimeError(f"{what} failed (exit code {process.returncode}):\n{tail}")


def _worker(command, backend, **request):
    """Runs `python -m keras_clx.export` with `KERAS_BACKEND=backend`; returns its JSON answer."""
    with tempfile.TemporaryDirectory(prefix="keras_clx_export_") as tmp:
        request_file, result_file = pathlib.Path(tmp) / "request.json", pathlib.Path(tmp) / "result.json"
        request_file.write_text(json.dumps({"command": command, "result": str(result_file), **request}))
        _run([sys.executable, "-m", "keras_clx.export", str(request_file)], _subprocess_env(backend),
             f"the {backend} {command} subprocess")
        return json.loads(result_file.read_text())


def verify_in_fresh_process(path, texts):
    """Reloads the SavedModel at `path` in a new Python that imports only tensorflow
    and tensorflow_text; returns its signature, its outputs on `texts`, the ops of
    the graph that are not TensorFlow's (`custom_ops`) and the loaded modules."""
    with tempfile.TemporaryDirectory(prefix="keras_clx_verify_") as tmp:
        request, result = pathlib.Path(tmp) / "texts.json", pathlib.Path(tmp) / "result.json"
        request.write_text(json.dumps([_bytes(t).hex() for t in texts]))
        _run([sys.executable, "-c", _VERIFY, str(path), str(request), str(result)], _subprocess_env("tensorflow"),
             "reloading the SavedModel")
        return json.loads(result.read_text())


def _bytes(text):
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _text(value):
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _main(request_file):
    """Subprocess entry point (`python -m keras_clx.export REQUEST.json`)."""
    request = json.loads(pathlib.Path(request_file).read_text())
    run = load_run_checked(request["run"])
    if request["command"] == "write":
        write_saved_model(run, request["path"])
        answer = {}
    else:
        answer = reference_outputs(run, request["texts"])
    pathlib.Path(request["result"]).write_text(json.dumps(answer))


# === Export ===


def _backend_available(backend):
    return backend == "tensorflow" or importlib.util.find_spec(backend) is not None


def _check_signature(task, signature):
    inputs = signature["inputs"]
    if inputs != {INPUT_NAME: ["string", [None]]}:
        raise ClxError(f"verification failed: serving_default takes {inputs}, expected {INPUT_NAME}: string [None]")
    got = {name: dtype for name, (dtype, _) in signature["outputs"].items()}
    expected = {name: dtype for name, (dtype, _) in OUTPUTS[task].items()}
    if got != expected:
        raise ClxError(f"verification failed: serving_default answers {got}, expected {expected}")


def _to_numpy(task, outputs):
    import numpy as np

    dtypes = {name: "object" if dtype == "string" else dtype for name, (dtype, _) in OUTPUTS[task].items()}
    return {name: np.asarray(value, dtype=dtypes.get(name)) for name, value in outputs.items()}


def export_run(run_dir, out_dir, name=None, version=None, overwrite=False, texts=None, sample_size=32,
               tolerance=TOLERANCE, verbose=1):
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
    texts = [str(t) for t in texts]
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
        reference = _worker("reference", reference_backend, run=str(run_dir), texts=texts)
    _log(f"reference: the trained model's predictions on {len(texts)} texts ({reference_backend})", verbose)

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
                _log(f"export in this process failed ({type(error).__name__}: {error}); re-exporting", verbose)
                shutil.rmtree(staging / "model", ignore_errors=True)
                method = "re-export"
        if method == "re-export":
            _worker("write", "tensorflow", run=str(run_dir), path=str(staging / "model"))
        _log(f"SavedModel written ({method}, trained on {trained_on or 'unknown'}); reloading in a fresh process",
             verbose)

        verified = verify_in_fresh_process(staging / "model", texts)
        _check_signature(task, verified["signature"])
        difference = compare(task, reference, verified["outputs"], texts)
        if not difference <= tolerance:
            raise ClxError(f"verification failed: max abs difference {difference:.2e} > {tolerance:.0e} "
                           f"between the SavedModel and the trained model on {len(texts)} texts")
        result = ExportResult(
            path=path, name=name, version=version, task=task, method=method, reference_backend=reference_backend,
            max_abs_difference=difference, texts=texts, outputs=_to_numpy(task, verified["outputs"]),
            signature=verified["signature"], custom_ops=verified["custom_ops"], modules=verified["modules"],
        )
        metadata = {
            "task": task,
            "labels": json.loads((run_dir / "labels.json").read_text())["labels"],
            "tags": _tag_names(task, run_dir),
            "sequence_length": recipe.get("model", {}).get("sequence_length"),
            "backbone": recipe.get("model", {}).get("backbone"),
            "trained_dtype_policy": recipe.get("train", {}).get("dtype_policy"),  # served in float32
            "run": str(run_dir.resolve()),
            "trained_backend": trained_on,
            "method": method,
            "signature": verified["signature"],
            "custom_ops": verified["custom_ops"],  # what a TF Serving binary must have registered
            "verification": {"texts": len(texts), "max_abs_difference": difference, "tolerance": tolerance,
                             "reference_backend": reference_backend},
            "keras_clx": _version(),
        }
        (staging / "model" / METADATA_FILE).parent.mkdir(exist_ok=True)
        (staging / "model" / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        if path.exists():
            shutil.rmtree(path)
        (staging / "model").rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _log(f"exported {path}: {result.summary()}", verbose)
    return result


def _tag_names(task, run_dir):
    if task != "token":
        return None
    from keras_clx.data.iob import IOBLabels

    return IOBLabels(json.loads((pathlib.Path(run_dir) / "labels.json").read_text())["labels"]).names


def _version():
    from keras_clx import __version__

    return __version__


# === Answering from a SavedModel ===


def resolve_saved_model(path):
    """A version directory; for a model directory (`out/name`), its highest version."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = _numeric_versions(path)
    if versions and (path / str(versions[-1]) / "saved_model.pb").is_file():
        return path / str(versions[-1])
    raise ClxError(f"{path} is not a SavedModel (no saved_model.pb) nor a model directory with numbered versions")


def load_saved_model(path):
    """`(serving_default function, metadata dict)` of an exported SavedModel."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tf-text ops of the graph)

    path = resolve_saved_model(path)
    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    except (OSError, ValueError, KeyError) as error:
        raise ClxError(f"cannot load the SavedModel {path}: {error}") from None
    metadata_file = path / METADATA_FILE
    metadata = json.loads(metadata_file.read_text()) if metadata_file.is_file() else {}
    if "task" not in metadata:
        metadata["task"] = "token" if "span_start" in signature.structured_outputs else "sequence"
    return signature, metadata


def rows_from_outputs(texts, outputs, metadata):
    """Prediction dicts in the format of `Run.predict` (see `tasks.py`)."""
    rows = []
    for i, text in enumerate(texts):
        text = _text(text)
        if metadata["task"] == "token":
            n, s = int(outputs["num_words"][i]), int(outputs["num_spans"][i])
            rows.append({
                "text": text,
                "words": [_text(w) for w in outputs["words"][i][:n]],
                "tags": [_text(t) for t in outputs["tag"][i][:n]],
                "spans": [
                    {"start": int(outputs["span_start"][i][j]), "end": int(outputs["span_end"][i][j]),
                     "label": _text(outputs["span_label"][i][j]), "text": _text(outputs["span_text"][i][j])}
                    for j in range(s)
                ],
            })
        else:
            p = [float(v) for v in outputs["probabilities"][i]]
            names = metadata.get("labels") or [str(k) for k in range(len(p))]
            label_id = int(outputs["label_id"][i])
            rows.append({
                "text": text,
                "label": _text(outputs["label"][i]),
                "probability": p[label_id],
                "probabilities": dict(zip(names, p)),
            })
    return rows


def predict_saved_model(path, texts, batch_size=64):
    """Answers of an exported SavedModel on `texts` (what TF Serving answers),
    as `Run.predict` formats them."""
    import tensorflow as tf

    signature, metadata = load_saved_model(path)
    rows = []
    for begin in range(0, len(texts), batch_size):
        chunk = texts[begin : begin + batch_size]
        outputs = {k: v.numpy() for k, v in signature(**{INPUT_NAME: tf.constant([_bytes(t) for t in chunk])}).items()}
        rows.extend(rows_from_outputs(chunk, outputs, metadata))
    return rows


if __name__ == "__main__":
    try:
        _main(sys.argv[1])
    except ClxError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
