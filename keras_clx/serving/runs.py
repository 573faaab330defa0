"""The trained run's side of an export: its directory, its model in float32, the
verification texts and the trained model's answers on them (the reference)."""

import json
import pathlib

from keras_clx.errors import ClxError


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
        raise ClxError(
            f"cannot load {pathlib.Path(run_dir) / 'model.keras'}: {type(error).__name__}: {error}"
        ) from None
    for layer in run.model._flatten_layers(include_self=True):
        policy = layer.dtype_policy
        if policy.variable_dtype == "float32" and policy.compute_dtype in ("bfloat16", "float16"):
            layer.dtype_policy = "float32"
    return run


def sample_texts(recipe, sequence_length, size=32, seed=0):
    """Up to `size` texts of the run's data (dev, else test, split of every
    language, taken in turn), plus an empty text and one longer than the sequence length."""
    from keras_clx.data.datasets import load_corpus
    from keras_clx.recipes import Recipe

    recipe = Recipe.from_dict(recipe)
    try:
        corpus = load_corpus(recipe.data, seed=seed)
    except ClxError as error:
        raise ClxError(
            f"cannot load the run's data to verify the export ({error}); pass texts to verify on (--verify-input FILE)"
        ) from None
    pools = []
    for lang in corpus.sources + corpus.targets:
        data = corpus.languages[lang]
        pool = [e.inputs for e in (data.dev or data.test or data.unlabeled) if e.text.strip()]
        if pool:
            pools.append(pool)
    texts = []
    for i in range(max((len(p) for p in pools), default=0)):
        texts.extend(p[i] for p in pools if i < len(p))
        if len(texts) >= size:
            break
    texts = texts[:size]
    if recipe.data.task == "pair":  # an empty pair, and a long one that truncation cuts on both sides
        long_text = " ".join(t[0] for t in texts) or "long"
        while len(long_text.split()) < 4 * sequence_length:
            long_text = f"{long_text} {long_text}"
        return texts + [("", ""), (long_text, long_text[: len(long_text) // 3])]
    long_text = " ".join(texts or ["long"])
    while len(long_text.split()) < 4 * sequence_length:
        long_text = f"{long_text} {long_text}"
    return texts + ["", long_text]


def reference_outputs(run, texts):
    """The trained model's answers on `texts`: JSON-able, per task."""
    from keras_clx.data.records import Example

    examples = [
        Example(t, "unknown", str(i)) if isinstance(t, str) else Example(t[0], "unknown", str(i), text_pair=t[1])
        for i, t in enumerate(texts)
    ]
    batch = run.recipe.eval.batch_size
    if run.recipe.data.task in ("token", "tagging"):
        words = run.task.predict_words(run.model, examples, batch)
        return {
            "words": [[list(w) for w in text_words] for text_words, _ in words],
            "probabilities": [p.tolist() for _, p in words],
        }
    return {"probabilities": run.task.predict_proba(run.model, examples, batch).tolist()}
