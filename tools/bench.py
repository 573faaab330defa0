"""Train-step time of the transfer methods against Keras's own step, on one backend.

    python tools/bench.py --backend jax --size tiny [--steps 10] [--repeats 5] [--json out.json]

One model (weights shared by value) is compiled four times: `vanilla` (Keras's
step), `adversarial` (ε·g/‖g‖₂ on the token embeddings), `weighted` (cosine
instance weighting, which reads a paired target batch) and `adversarial+weighted`.
Every step sees the same preprocessed batch. After a warm-up fit that compiles each
step, each repeat runs one epoch per method, methods interleaved (so that load from
other processes hits them alike), and times `--steps` consecutive steps inside the
epoch (after two untimed ones, as epoch starts can stall), synchronising on the
loss after every step. Reported: the median per-step time over repeats and its
ratio to vanilla.

Sizes: `tiny` = keras-clx's `bert_tiny` (2 layers, hidden 64), vocabulary 4,000,
batch 16, sequence 32; `small` = 4 layers, hidden 256, vocabulary 30,000, batch 32,
sequence 128 (the size of the PyTorch reference numbers in the project guide).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

SIZES = {
    "tiny": dict(config="tiny", vocabulary=4000, batch=16, length=32),
    "small": dict(config="small", vocabulary=30000, batch=32, length=128),
}
METHODS = {
    "vanilla": {},
    "adversarial": dict(perturbation="adversarial"),
    "weighted": dict(weighting="cosine"),
    "adversarial+weighted": dict(perturbation="adversarial", weighting="cosine"),
}
UNTIMED = 2  # steps at the start of each epoch that are not timed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"),
                        choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, help="CPU threads per backend (default: the library's)")
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    return parser.parse_args(argv)


def make_batch(size, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    n, length = size["batch"], size["length"]
    lengths = rng.integers(length // 2, length + 1, n)
    mask = np.arange(length)[None, :] < lengths[:, None]
    x = {
        "token_ids": np.where(mask, rng.integers(5, size["vocabulary"], (n, length)), 0).astype("int32"),
        "segment_ids": np.zeros((n, length), "int32"),
        "padding_mask": mask,
    }
    return x, rng.integers(0, 4, n).astype("int32")


def build_models(size, methods):
    import keras
    import keras_hub

    from keras_clx.models.backbones import SMALL_CONFIGS
    from keras_clx.models.sequence_classifier import SequenceClassifier
    from keras_clx.training.steps import TransferConfig

    models, weights = {}, None
    for name in methods:
        keras.utils.set_random_seed(0)
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=size["vocabulary"], max_sequence_length=size["length"],
            **SMALL_CONFIGS[size["config"]],
        )
        model = SequenceClassifier(backbone, num_classes=4)
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.AdamW(1e-4), transfer=TransferConfig(**METHODS[name]))
        models[name] = model
    return models


def datasets(size, methods):
    import tensorflow as tf

    x, y = make_batch(size, seed=0)
    target, _ = make_batch(size, seed=1)
    plain = tf.data.Dataset.from_tensors((x, y)).repeat()
    paired = tf.data.Dataset.from_tensors(({"source": x, "target": target}, y)).repeat()
    return {name: paired if "weighted" in name else plain for name in methods}


def timed_epoch(model, dataset, steps):
    """Seconds per step over `steps` consecutive steps of one epoch."""
    import keras

    marks = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for the step (JAX and torch dispatch asynchronously)
            marks.append(time.perf_counter())

    model.fit(dataset, steps_per_epoch=UNTIMED + steps, epochs=1, verbose=0, callbacks=[Clock()])
    return (marks[-1] - marks[UNTIMED - 1]) / steps


def limit_threads(n):
    """Caps each backend's CPU threads (before it starts): steadier timings on a shared machine."""
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'}"
    ).strip()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)
    if os.environ["KERAS_BACKEND"] == "torch":
        import torch

        torch.set_num_threads(n)


def machine():
    import keras

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    if keras.backend.backend() == "torch":
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    elif keras.backend.backend() == "jax":
        import jax

        info.update(jax=jax.__version__, devices=str(jax.devices()))
    else:
        import tensorflow as tf

        info.update(tensorflow=tf.__version__)
    return info


def run(args):
    size = SIZES[args.size]
    started = time.time()
    models = build_models(size, args.methods)
    data = datasets(size, args.methods)
    model = next(iter(models.values()))
    compile_seconds = {}
    for name in args.methods:  # warm-up: compiles each step
        t = time.perf_counter()
        timed_epoch(models[name], data[name], 1)
        compile_seconds[name] = round(time.perf_counter() - t, 2)
    times = {name: [] for name in args.methods}
    for _ in range(args.repeats):
        for name in args.methods:
            times[name].append(timed_epoch(models[name], data[name], args.steps))
    base = statistics.median(times["vanilla"]) if "vanilla" in times else None
    results = {
        name: {
            "median_step_s": statistics.median(values),
            "min_step_s": min(values),
            "ratio_to_vanilla": statistics.median(values) / base if base else None,
            "min_ratio_to_vanilla": min(values) / min(times["vanilla"]) if base else None,
            "step_s": values,
            "warmup_s": compile_seconds[name],
        }
        for name, values in times.items()
    }
    return {
        "machine": machine(),
        "model": {
            "size": args.size,
            **model_shape(size),
            "parameters": model.count_params(),
            "batch": size["batch"],
            "sequence_length": size["length"],
        },
        "threads": args.threads,
        "steps": args.steps,
        "repeats": args.repeats,
        "results": results,
        "seconds": round(time.time() - started, 1),
    }


def model_shape(size):
    from keras_clx.models.backbones import SMALL_CONFIGS

    return {**SMALL_CONFIGS[size["config"]], "vocabulary": size["vocabulary"]}


def report(result):
    m, model = result["machine"], result["model"]
    lines = [
        f"backend {m['backend']} | {m['platform']} | {m['cpu_count']} CPUs | python {m['python']} | "
        f"keras {m['keras']}",
        f"model {model['size']}: {model['num_layers']} layers, hidden {model['hidden_dim']}, vocabulary "
        f"{model['vocabulary']:,}, {model['parameters']:,} parameters; batch {model['batch']}, "
        f"sequence {model['sequence_length']}; {result['repeats']} repeats x {result['steps']} steps"
        + (f"; {result['threads']} thread(s)" if result["threads"] else ""),
        "",
        "| method | step (s, median) | / vanilla | step (s, min) | / vanilla (min) |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["results"].items():
        ratio = f"{r['ratio_to_vanilla']:.2f}" if r["ratio_to_vanilla"] else "-"
        min_ratio = f"{r['min_ratio_to_vanilla']:.2f}" if r["min_ratio_to_vanilla"] else "-"
        lines.append(f"| {name} | {r['median_step_s']:.4f} | {ratio} | {r['min_step_s']:.4f} | {min_ratio} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.threads:
        limit_threads(args.threads)
    result = run(args)
    print(report(result))
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
