"""Trains a dropout-free tiny classifier on one device and data-parallel; prints losses as JSON.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \
        python tools/data_parallel_check.py
    KERAS_BACKEND=tensorflow python tools/data_parallel_check.py --devices 2

For each method (vanilla, adversarial, instance-weighted) the same seed, data and
initial weights train once without and once with `train.distribution=data_parallel`;
the output holds both loss curves and the largest relative difference. Used by
`tests/training/test_distribution.py`; a fresh process is needed because the device
count is fixed when JAX or TensorFlow starts.
"""

import argparse
import json
import os

METHODS = ("vanilla", "adversarial", "weighted")


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
        _, single = train("none", method, args.steps)
        replicas, parallel = train("data_parallel", method, args.steps)
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
