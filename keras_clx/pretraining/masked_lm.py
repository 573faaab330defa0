"""Masked-LM pretraining of a recipe's backbone (BERT or XLM-R) on multilingual unlabelled text.

`pretrain(recipe, out_dir)` trains from scratch (a small configuration: the vocabulary
is learned from every language's text) or continues a keras-hub preset / local preset
directory, and writes a local preset that `--set model.backbone=DIR` takes:

    config.json, model.weights.h5, tokenizer.json, preprocessor.json, assets/   the backbone preset
    pretrain.json     settings, sampling rates, per-language held-out masked-token accuracy, timings
    checkpoints/      initial/ (untrained preset: architecture + vocabulary), state.json and
                      epoch-N.weights.h5 (weights + optimizer) of the last completed epoch

Each epoch draws `steps_per_epoch * batch_size` texts with exponentiated language
sampling (`sampling.py`) and masks them with a per-epoch seed (`masking.py`); dropout
seeds are reset per epoch too, so a resumed run reaches the same weights.
"""

import dataclasses
import hashlib
import json
import math
import pathlib
import shutil
import time

import keras
import keras_hub
import numpy as np

from keras_clx.console import log
from keras_clx.data.datasets import load_corpus
from keras_clx.errors import ClxError
from keras_clx.models.backbones import backbone_family, build_backbone
from keras_clx.pretraining.masking import mask_tokens
from keras_clx.pretraining.sampling import sample_epoch, sampling_rates
from keras_clx.pretraining.texts import recipe_texts, split_heldout
from keras_clx.training import processes
from keras_clx.training.distribution import DataParallel, ReplicatedPredictions

STATE_FILE = "state.json"
REPORT_FILE = "pretrain.json"


@dataclasses.dataclass
class PretrainResult:
    """What `pretrain` wrote: the preset directory, sampling rates, held-out accuracy per language."""

    directory: pathlib.Path
    rates: dict
    accuracy: dict
    losses: list
    seconds: float
    complete: bool = True

    def format_table(self):
        lines = ["| language | sampling rate | held-out masked-token accuracy |", "|---|---|---|"]
        for lang, rate in self.rates.items():
            acc = self.accuracy.get(lang)
            lines.append(f"| {lang} | {rate:.3f} | {'-' if acc is None else f'{100 * acc:.2f}'} |")
        return "\n".join(lines)


def fingerprint(recipe, texts):
    """What a checkpoint must agree with to be resumed."""
    digest = hashlib.sha1()
    for lang in sorted(texts):
        digest.update(lang.encode() + b"\0" + "\n".join(texts[lang]).encode() + b"\0")
    model = recipe.model
    settings = dict(
        dataclasses.asdict(model.pretrain),
        backbone=model.backbone,
        seed=recipe.train.seed,
        sequence_length=model.sequence_length,
        vocabulary_size=model.vocabulary_size,
    )
    settings.pop("enabled")
    return {"settings": settings, "texts": digest.hexdigest()}


def read_state(directory):
    path = pathlib.Path(directory) / "checkpoints" / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


class BertMaskedLM(ReplicatedPredictions, keras_hub.models.BertMaskedLM):
    """keras-hub's BERT masked-LM, whose predictions every process can read."""


class XLMRobertaMaskedLM(ReplicatedPredictions, keras_hub.models.XLMRobertaMaskedLM):
    """keras-hub's XLM-R masked-LM, whose predictions every process can read."""


def masked_lm_model(backbone):
    """The keras-hub masked-LM task over `backbone` (no preprocessor: ids in, logits out)."""
    if backbone_family(backbone) == "bert":
        return BertMaskedLM(backbone, preprocessor=None, name="bert_masked_lm")
    return XLMRobertaMaskedLM(backbone, preprocessor=None, name="xlm_roberta_masked_lm")


def tokenize(preprocessor, texts, batch_size=256):
    """Token ids, padding mask (and segment ids) of `texts`, as numpy arrays."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(list(texts)).batch(batch_size).map(preprocessor)
    parts = list(ds.as_numpy_iterator())
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


class _Masker:
    """Masks rows of pre-tokenised arrays into masked-LM inputs for one backbone."""

    def __init__(self, backbone, preprocessor, rate):
        tokenizer = preprocessor.tokenizer
        self.inputs = list(backbone.input)
        self.options = dict(
            rate=rate,
            mask_token_id=tokenizer.mask_token_id,
            special_ids=sorted(set(tokenizer.special_token_ids)),
            vocabulary_size=tokenizer.vocabulary_size(),
        )

    def __call__(self, arrays, rng):
        ids, positions, labels, weights = mask_tokens(arrays["token_ids"], arrays["padding_mask"], rng, **self.options)
        x = {key: arrays[key] for key in self.inputs}
        x.update(token_ids=ids, mask_positions=positions)
        return x, labels, weights


class _SeedEpoch(keras.callbacks.Callback):
    """Seeds the global generators at the start of `fit`, after the trainer's own set-up
    (torch's dropout draws from its global RNG when a layer was given no seed)."""

    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def on_train_begin(self, logs=None):
        keras.utils.set_random_seed(self.seed)


def _reset_seed_generators(model, seed, epoch):
    """Dropout seeds as a function of (seed, epoch) only, not of the steps taken before.

    Sets the layers' seed generators (JAX, TF); returns the callback for the global ones."""
    generators = [g for layer in model._flatten_layers() for g in getattr(layer, "_seed_generators", [])]
    for i, generator in enumerate(generators):
        value = (seed * 1_000_003 + epoch * 9_973 + i) % (2**31)
        generator.state.assign(np.array([value, 0], dtype=keras.backend.standardize_dtype(generator.state.dtype)))
    return _SeedEpoch((seed * 7_919 + epoch) % (2**31))


def _compile(model, config, total_steps, jit_compile):
    warmup = int(config.warmup_ratio * total_steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),  # per masked token
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )


def _batches(data, batch_size, distribution):
    """`data` (arrays, or a tuple of them) as tf.data batches in order, as fine-tuning feeds the
    replicas (TensorFlow replicas get integer padding masks)."""
    import tensorflow as tf

    return distribution.cast_masks(tf.data.Dataset.from_tensor_slices(data).batch(batch_size))


def masked_accuracy(model, x, labels, weights, distribution, per_replica=32):
    """Share of masked tokens predicted exactly. The rows are padded to whole batches (one
    compiled shape; every batch divides across the replicas) and the padding dropped."""
    count, batch = len(labels), per_replica * distribution.replicas
    pad = -count % batch
    x = {key: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for key, v in x.items()}
    logits = model.predict(_batches(x, batch, distribution), verbose=0)[:count]
    hits = (np.argmax(logits, axis=-1) == labels) * weights
    return float(hits.sum() / max(weights.sum(), 1.0))


def _prepare_dir(out, state, fprint, resume, overwrite):
    checkpoints = out / "checkpoints"
    if overwrite and checkpoints.exists():
        shutil.rmtree(checkpoints)
        return None
    if not resume:
        if state or (out / "config.json").exists():
            raise ClxError(f"{out} already holds pretraining; pass --resume to continue it or --overwrite")
        return None
    if state and state["fingerprint"] != fprint:
        raise ClxError(f"{out}: its checkpoint was made with other settings or texts; pass --overwrite to start again")
    return state


def pretrain(recipe, out_dir, texts=None, resume=False, overwrite=False, verbose=1, stop_after_epoch=None):
    """Masked-LM pretraining of `recipe.model.backbone` (settings: `recipe.model.pretrain`).

    `texts`: `{language: texts}`; default: the recipe corpus's source training text and
    target unlabelled text (`recipe_texts`: with code-switched source copies when
    `model.pretrain.code_switch_copies` is set). `resume`: continue from the last epoch checkpoint in `out_dir`.
    `stop_after_epoch`: end this call after that epoch (the schedule still spans all epochs).
    Returns a `PretrainResult` (`complete=False` when stopped early).
    """
    started = time.time()
    config, seed = recipe.model.pretrain, recipe.train.seed
    if not processes.current().several and processes.from_environment(keras.backend.backend(), "data_parallel").several:
        raise ClxError(
            "keras-clx pretrain runs in one process (data-parallel over its devices with "
            "train.distribution=data_parallel); the environment describes several (KERAS_DISTRIBUTION_*, "
            "TF_CONFIG): to pretrain across processes, chain it in fit with --set model.pretrain.enabled=true"
        )
    if texts is None:
        texts = recipe_texts(recipe, load_corpus(recipe.data, seed=seed))
    texts = {lang: items for lang, items in texts.items() if items}
    if not texts:
        raise ClxError("no text to pretrain on")
    if not 0 < config.mask_rate < 1:
        raise ClxError(f"model.pretrain.mask_rate must be in (0, 1), got {config.mask_rate}")
    out = pathlib.Path(out_dir)
    fprint = fingerprint(recipe, texts)
    state = _prepare_dir(out, read_state(out), fprint, resume, overwrite)
    checkpoints = out / "checkpoints"
    train_texts, heldout = split_heldout(texts, config.heldout_fraction, config.max_heldout, seed)
    distribution = DataParallel(recipe.train.distribution, config.batch_size, "model.pretrain.batch_size")
    if distribution.enabled:
        log(f"pretraining distribution: {distribution.describe()}", verbose)
    with distribution.scope():
        keras.utils.set_random_seed(seed)
        length = recipe.model.sequence_length
        if state:
            backbone, preprocessor = build_backbone(str(checkpoints / "initial"), sequence_length=length)
        else:
            everything = [t for lang in sorted(texts) for t in texts[lang]]
            backbone, preprocessor = build_backbone(
                recipe.model.backbone,
                texts=everything,
                sequence_length=length,
                vocabulary_size=recipe.model.vocabulary_size,
            )
            checkpoints.mkdir(parents=True, exist_ok=True)
            backbone.save_to_preset(str(checkpoints / "initial"))
            preprocessor.save_to_preset(str(checkpoints / "initial"))
        model = masked_lm_model(backbone)
        masker = _Masker(backbone, preprocessor, config.mask_rate)
        languages = sorted(train_texts)
        arrays = {lang: tokenize(preprocessor, train_texts[lang]) for lang in languages}
        # Before training: reseeding TF (each epoch) loses a SentencePiece tokenizer's TF resource.
        heldout_arrays = {lang: tokenize(preprocessor, items) for lang, items in sorted(heldout.items()) if items}
        counts = {lang: len(train_texts[lang]) for lang in languages}
        rates = sampling_rates(counts, config.alpha)
        batch = config.batch_size
        steps = config.steps_per_epoch or max(1, math.ceil(sum(counts.values()) / batch))
        _compile(model, config, steps * config.epochs, recipe.train.jit_compile)
        first = 0
        if state:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(checkpoints / state["weights"])
            first = state["epoch"]
            log(f"pretraining: resuming after epoch {first}", verbose)
        log(
            f"pretraining {recipe.model.backbone} ({backbone.count_params():,} parameters) on "
            + ", ".join(f"{lang} {counts[lang]:,} texts (p={rates[lang]:.3f})" for lang in languages)
            + f"; {config.epochs} epochs of {steps} steps, alpha {config.alpha}",
            verbose,
        )

        losses = list(state.get("losses", [])) if state else []
        last = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
        for epoch in range(first, last):
            rng = np.random.default_rng([seed, 1, epoch])
            chosen, indices = sample_epoch(counts, rates, steps * batch, rng)
            rows = {
                key: np.stack([arrays[languages[c]][key][i] for c, i in zip(chosen, indices)])
                for key in arrays[languages[0]]
            }
            x, y, w = masker(rows, rng)
            seeding = _reset_seed_generators(model, seed, epoch)
            log(f"pretraining epoch {epoch + 1}/{config.epochs}", verbose)
            history = model.fit(
                _batches((x, y, w), batch, distribution),
                epochs=epoch + 1,
                initial_epoch=epoch,
                shuffle=False,
                verbose=min(verbose, 2),
                callbacks=[seeding],
            )
            losses.append({k: float(v[-1]) for k, v in history.history.items()})
            _save_checkpoint(model, checkpoints, epoch + 1, fprint, losses)

        complete = last >= config.epochs
        accuracy = {}
        if complete:
            for i, lang in enumerate(sorted(heldout)):
                if lang in heldout_arrays:
                    x, y, w = masker(heldout_arrays[lang], np.random.default_rng([seed, 2, i]))
                    accuracy[lang] = masked_accuracy(model, x, y, w, distribution)
            backbone.save_to_preset(str(out))
            preprocessor.save_to_preset(str(out))
    result = PretrainResult(out, rates, accuracy, losses, round(time.time() - started, 2), complete)
    report = {
        "backbone": recipe.model.backbone,
        "settings": fprint["settings"],
        "backend": keras.backend.backend(),
        "texts": counts,
        "heldout": {k: len(v) for k, v in heldout.items()},
        "rates": rates,
        "heldout_masked_accuracy": accuracy,
        "epochs": losses,
        "steps_per_epoch": steps,
        "complete": complete,
        "seconds": result.seconds,
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    if complete:
        log(
            "held-out masked-token accuracy: "
            + ", ".join(f"{lang} {100 * acc:.2f}" for lang, acc in accuracy.items())
            + f"; preset written to {out}",
            verbose,
        )
    return result


def _save_checkpoint(model, checkpoints, epoch, fprint, losses):
    name = f"epoch-{epoch}.weights.h5"
    model.save_weights(checkpoints / name)
    state = {"epoch": epoch, "weights": name, "fingerprint": fprint, "losses": losses}
    tmp = checkpoints / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(checkpoints / STATE_FILE)
    for old in checkpoints.glob("epoch-*.weights.h5"):
        if old.name != name:
            old.unlink()
