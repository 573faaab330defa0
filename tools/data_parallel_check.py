"""Trains a dropout-free tiny classifier (and masked-LM pretraining) on one device and
data-parallel; prints losses as JSON.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \
        python tools/data_parallel_check.py
    KERAS_BACKEND=tensorflow python tools/data_parallel_check.py --devices 2

For each method (vanilla, adversarial, instance-weighted fine-tuning; masked-LM
pretraining through `keras_clx.pretrain`) the same seed, data and initial weights train
once without and once with `train.distribution=data_parallel`;
the output holds both loss curves and the largest relative difference. Used by
`tests/training/test_distribution.py`; a fresh process is needed because the device
count is fixed when JAX or TensorFlow starts.
"""

import argparse
import json
import os

METHODS = ("vanilla", "adversarial", "weighted", "masked_lm")


def train(setting, method, steps, batch=16):
    import keras

    from keras_clx.data.demo import make_demo_corpus
    from keras_clx.data.pipeline import labeled_dataset, paired_dataset
    from keras_clx.models.backbones import build_backbone
    from keras_clx.models.sequence_classifier import SequenceClassifier
    from keras_clx.training.distribution import DataParallel
    from keras_clx.training.steps import TransferConfig

    keras.utils.set_random_seed(0)
    corpus = make_demo_corpus(train_size=batch * steps, dev_size=8, test_size=8, unlabeled_size=32)
    texts = [e.text for e in corpus.train]
    distribution = DataParallel(setting, batch)
    transfer = {
        "vanilla": None,
        "adversarial": TransferConfig(perturbation="adversarial"),
        "weighted": TransferConfig(weighting="cosine"),
    }[method]
    with distribution.scope():
        backbone, preprocessor = build_backbone("bert_tiny", texts, sequence_length=16, vocabulary_size=300)
        backbone = type(backbone).from_config({**backbone.get_config(), "dropout": 0.0})
        model = SequenceClassifier(backbone, len(corpus.labels), preprocessor=preprocessor, dropout=0.0)
        model.compile(optimizer=keras.optimizers.SGD(0.1), transfer=transfer)
        ds = labeled_dataset(corpus.train, corpus.labels, preprocessor, batch)
        if method == "weighted":
            ds = paired_dataset(ds, corpus.unlabeled(), preprocessor, batch, seed=0)
        history = model.fit(distribution.cast_masks(ds), epochs=2, verbose=0)
    return distribution.replicas, history.history["loss"]


def pretrain(setting, steps, batch=16):
    """Masked-LM pretraining of a dropout-free tiny BERT on demo text; `(replicas, losses)`."""
    import tempfile

    import keras

    from keras_clx.data.demo import make_demo_corpus
    from keras_clx.pretraining import masked_lm
    from keras_clx.recipes import Recipe
    from keras_clx.training.distribution import DataParallel

    corpus = make_demo_corpus(train_size=64, dev_size=8, test_size=8, unlabeled_size=64)
    texts = {"source": [e.text for e in corpus.train], "near": [e.text for e in corpus.unlabeled("near")]}
    recipe = Recipe()
    recipe.model.backbone, recipe.model.sequence_length, recipe.model.vocabulary_size = "bert_tiny", 16, 300
    recipe.train.distribution = setting
    recipe.model.pretrain.batch_size, recipe.model.pretrain.epochs = batch, 2
    recipe.model.pretrain.steps_per_epoch, recipe.model.pretrain.learning_rate = steps, 1e-2
    build = masked_lm.build_backbone

    def without_dropout(*args, **kwargs):
        backbone, preprocessor = build(*args, **kwargs)
        return type(backbone).from_config({**backbone.get_config(), "dropout": 0.0}), preprocessor

    masked_lm.build_backbone = without_dropout
    try:
        with tempfile.TemporaryDirectory() as out:
            keras.utils.set_random_seed(0)
            result = masked_lm.pretrain(recipe, out, texts=texts, verbose=0)
    finally:
        masked_lm.build_backbone = build
    return DataParallel(setting, batch).replicas, [epoch["loss"] for epoch in result.losses]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=2, help="logical CPU devices (TensorFlow)")
    parser.add_argument("--steps", type=int, default=4, help="steps per epoch (2 epochs)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()
    if os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.devices)
    results = {}
    for method in args.methods:
        run = pretrain if method == "masked_lm" else lambda setting, steps: train(setting, method, steps)
        _, single = run("none", args.steps)
        replicas, parallel = run("data_parallel", args.steps)
        difference = max(abs(a - b) / abs(a) for a, b in zip(single, parallel))
        results[method] = {
            "replicas": replicas,
            "single": single,
            "data_parallel": parallel,
            "max_relative_difference": difference,
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
