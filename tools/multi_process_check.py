"""Trains the tiny demo three times through `keras_clx.fit` (adversarial; one self-training round,
whose round 0 is plain fine-tuning; masked-LM pretraining chained before fine-tuning),
data-parallel, into OUT/adversarial, OUT/self_training, OUT/pretrained.

Started once per process of a multi-process run (the environment says which:
`KERAS_DISTRIBUTION_*` for JAX, `TF_CONFIG` for TensorFlow), or alone with `--devices 2`
as the reference: one process with two local devices (JAX: `XLA_FLAGS`; TensorFlow:
two logical CPUs). `tests/training/test_multi_process.py` compares the run directories;
a fresh process is needed because the devices are fixed when JAX or TensorFlow starts.

    KERAS_BACKEND=jax python tools/multi_process_check.py OUT --devices 2
"""

import argparse
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNS = {
    "adversarial": ["train.perturbation=adversarial", "train.epoch_eval=false", "train.checkpoint_every_steps=1"],
    "self_training": [
        "train.self_training.enabled=true",
        "train.self_training.max_rounds=1",
        "train.self_training.k_per_class=3",
        "train.epoch_eval=false",
    ],
    "pretrained": [
        "model.pretrain.enabled=true",
        "model.pretrain.epochs=2",
        "model.pretrain.steps_per_epoch=4",
        "model.pretrain.learning_rate=1e-2",
        "model.pretrain.batch_size=16",
        "model.pretrain.max_heldout=5",
        "train.epoch_eval=false",
    ],
}
SMALL = ["train.distribution=data_parallel"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--devices", type=int, default=1, help="local devices (the single-process reference)")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = parser.parse_args()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "jax" and args.devices > 1:
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    sys.path.insert(0, str(REPO))
    if backend == "tensorflow" and args.devices > 1:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.devices)
    from keras_clx import experiment
    from tests.helpers import tiny_demo_recipe

    for name in args.runs:
        recipe = tiny_demo_recipe(*SMALL, *RUNS[name], unlabeled_size=24)
        recipe.data.options["train_size"] = 64
        experiment.fit(recipe, pathlib.Path(args.out) / name, verbose=0)
        print(f"finished {name}", flush=True)


if __name__ == "__main__":
    main()
