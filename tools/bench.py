"""keras-clx's performance suite on one backend: train steps, pool prediction, peer loop.

    python tools/bench.py --backend jax --size tiny small [--steps 10] [--repeats 5]
                          [--peer] [--json out.json]

For each size, on one model (weights shared by value), all in one process so that
every ratio compares figures measured side by side:

- **train**: the step of `vanilla` (Keras's own), `adversarial` (ε·g/‖g‖₂ on the
  token embeddings), `weighted` (cosine instance weighting, reading a paired target
  batch) and `adversarial+weighted`, on one preprocessed batch. After a warm-up that
  compiles each step (its first step is reported as `first_step_s`), each repeat
  runs one epoch per method, methods interleaved (load from other processes hits
  them alike), timing `--steps` consecutive steps after two untimed ones, and
  synchronising on the loss after every step. Reported: the median over repeats,
  its ratio to vanilla, examples/s, and the peak resident memory of a fresh process
  that builds the model and trains three steps of the method (`--no-memory` skips it).
- **predict**: `keras_clx.predict_texts` (the self-training pool pass) against plain
  `model.predict` on the same raw texts, warm, median of repeats; then a pool that
  shrinks over three rounds (as self-training's does), first calls included.
- **peer** (`--peer`, needs the `bench` extra): the same adversarial step written with
  PyTorch + transformers (`tools/peer_transformers.py`): its plain and FGM loops join
  the train repeats, interleaved with the methods.

Sizes: `tiny` = 2 layers, hidden 64, vocabulary 4,000, batch 16, sequence 32;
`small` = 4 layers, hidden 256, vocabulary 30,000, batch 32, sequence 128; `base` =
XLM-R-base-sized (12 layers, hidden 768, vocabulary 250,002, batch 32, sequence 128:
for accelerators, with `--dtype mixed_bfloat16` and `--peak-tflops` for the model
FLOP utilisation).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time

SIZES = {
    "tiny": dict(config="tiny", vocabulary=4000, batch=16, length=32),
    "small": dict(config="small", vocabulary=30000, batch=32, length=128),
    "base": dict(config="base", vocabulary=250002, batch=32, length=128),
}
METHODS = {
    "vanilla": {},
    "adversarial": dict(perturbation="adversarial"),
    "weighted": dict(weighting="cosine"),
    "adversarial+weighted": dict(perturbation="adversarial", weighting="cosine"),
}
PASSES = {"vanilla": 3, "adversarial": 6, "weighted": 4, "adversarial+weighted": 7}  # forward-pass equivalents
UNTIMED = 2  # steps at the start of each epoch that are not timed
NUM_CLASSES = 4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"), choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--size", nargs="+", default=["tiny"], choices=list(SIZES))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument(
        "--pool-batches", type=int, default=8, help="pool size for the predict figures, in batches (0 skips them)"
    )
    parser.add_argument("--peer", action="store_true", help="also time the PyTorch + transformers FGM loop")
    parser.add_argument("--dtype", default="float32", help="Keras dtype policy, e.g. mixed_bfloat16")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak: adds model FLOP utilisation")
    parser.add_argument("--threads", type=int, help="CPU threads per backend (default: the library's)")
    parser.add_argument(
        "--no-memory",
        dest="memory",
        action="store_false",
        help="skip the peak-memory probes (one subprocess per method)",
    )
    parser.add_argument("--memory-probe", choices=list(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    return parser.parse_args(argv)


# === Inputs and models ===


def vocabulary(size):
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(size["vocabulary"] - 5)]


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
    return x, rng.integers(0, NUM_CLASSES, n).astype("int32")


def make_texts(size, count, seed=2):
    import numpy as np

    rng = np.random.default_rng(seed)
    words = rng.integers(0, size["vocabulary"] - 5, (count, size["length"]))
    lengths = rng.integers(size["length"] // 4, size["length"] - 1, count)
    return [" ".join(f"w{i}" for i in row[:n]) for row, n in zip(words, lengths)]


def build_models(size, methods):
    import keras
    import keras_hub

    from keras_clx.models.backbones import SMALL_CONFIGS
    from keras_clx.models.sequence_classifier import SequenceClassifier
    from keras_clx.training.steps import TransferConfig

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary(size))
    models, weights = {}, None
    for name in methods:
        keras.utils.set_random_seed(0)
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=size["vocabulary"],
            max_sequence_length=size["length"],
            **SMALL_CONFIGS[size["config"]],
        )
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=size["length"])
        model = SequenceClassifier(backbone, num_classes=NUM_CLASSES, preprocessor=preprocessor)
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


def model_shape(size):
    from keras_clx.models.backbones import SMALL_CONFIGS

    return {**SMALL_CONFIGS[size["config"]], "vocabulary": size["vocabulary"]}


def forward_flops(size):
    """Matmul FLOPs of one forward pass of the batch (embeddings excluded)."""
    shape = model_shape(size)
    tokens = size["batch"] * size["length"]
    hidden, inner, layers = shape["hidden_dim"], shape["intermediate_dim"], shape["num_layers"]
    per_token = layers * (2 * 4 * hidden * hidden + 2 * 2 * hidden * inner)
    attention = layers * 2 * 2 * size["batch"] * size["length"] ** 2 * hidden
    return tokens * per_token + attention


# === Measurements ===


class PeakMemory:
    """The highest resident set size of this process while the block runs (MB)."""

    def __init__(self, interval=0.005):
        self.interval, self.mb = interval, 0.0
        self._stop = threading.Event()

    @staticmethod
    def resident_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _sample(self):
        while not self._stop.is_set():
            self.mb = max(self.mb, self.resident_mb())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.mb = max(self.mb, self.resident_mb())


def timed_epoch(model, dataset, steps):
    """`(seconds per step over `steps` consecutive steps, seconds to the first step's end)`."""
    import keras

    marks = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for the step (JAX and torch dispatch asynchronously)
            marks.append(time.perf_counter())

    started = time.perf_counter()
    model.fit(dataset, steps_per_epoch=UNTIMED + steps, epochs=1, verbose=0, callbacks=[Clock()])
    return (marks[-1] - marks[UNTIMED - 1]) / steps, marks[0] - started


def interleaved(runs, repeats):
    """`{key: [run() per repeat]}`, the runs taking turns in every repeat (load hits them alike)."""
    times = {key: [] for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            times[key].append(run())
    return times


def bench_train(size, models, data, args, peer=None):
    """Step times of each method; `peer` runners (`{name: run(steps) -> s/step}`) join the
    interleaved repeats, so that they meet the same load. Returns `(results, peer_times)`."""
    first_step = {name: timed_epoch(models[name], data[name], 1)[1] for name in args.methods}
    runs = {
        ("clx", name): (lambda name=name: timed_epoch(models[name], data[name], args.steps)[0]) for name in args.methods
    }
    runs.update({("peer", name): (lambda run=run: run(args.steps)) for name, run in (peer or {}).items()})
    measured = interleaved(runs, args.repeats)
    times = {name: v for (side, name), v in measured.items() if side == "clx"}
    peer_times = {name: v for (side, name), v in measured.items() if side == "peer"}
    base = statistics.median(times["vanilla"]) if "vanilla" in times else None
    flops = forward_flops(size)
    results = {}
    for name, values in times.items():
        median = statistics.median(values)
        results[name] = {
            "median_step_s": median,
            "min_step_s": min(values),
            "ratio_to_vanilla": median / base if base else None,
            "min_ratio_to_vanilla": min(values) / min(times["vanilla"]) if base else None,
            "examples_per_s": size["batch"] / median,
            "tflops_per_s": PASSES[name] * flops / median / 1e12,
            "first_step_s": first_step[name],
            "step_s": values,
        }
        if args.peak_tflops:
            results[name]["model_flop_utilisation"] = results[name]["tflops_per_s"] / args.peak_tflops
    return results, peer_times


def probe_memory(size_name, method, args):
    """`{model_rss_mb, peak_rss_mb}` of a process that builds the model, then trains `method` for
    three steps (compile included): run in a subprocess so that methods do not share an allocator."""
    import subprocess

    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--backend",
        os.environ["KERAS_BACKEND"],
        "--size",
        size_name,
        "--memory-probe",
        method,
        "--dtype",
        args.dtype,
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_probe(args):
    size = SIZES[args.size[0]]
    models = build_models(size, [args.memory_probe])
    data = datasets(size, [args.memory_probe])
    model_mb = PeakMemory.resident_mb()
    with PeakMemory() as peak:
        timed_epoch(models[args.memory_probe], data[args.memory_probe], 1)
    print(json.dumps({"model_rss_mb": model_mb, "peak_rss_mb": peak.mb}))


def bench_predict(size, model, args):
    """`predict_texts` (the pool pass) against `model.predict` on the same texts."""
    from keras_clx.data.pipeline import predict_texts

    batch = size["batch"]
    texts = make_texts(size, args.pool_batches * batch + batch // 2 + 1)  # ends in a partial batch
    runs = {
        "plain": lambda t: model.predict(t, batch_size=batch, verbose=0),
        "pool": lambda t: predict_texts(model, t, batch, preprocessor=model.preprocessor),
    }

    def timed(run, t):
        started = time.perf_counter()
        run(t)
        return time.perf_counter() - started

    # A pool that shrinks every round (new remainders): first calls, compiles included.
    shrinking = {name: 0.0 for name in runs}
    for round_ in range(3):
        for name, run in runs.items():
            shrinking[name] += timed(run, texts[: len(texts) - round_ * (batch // 2 + 3)])
    times = interleaved({name: (lambda run=run: timed(run, texts)) for name, run in runs.items()}, args.repeats)
    plain, pool = statistics.median(times["plain"]), statistics.median(times["pool"])
    return {
        "texts": len(texts),
        "batch": batch,
        "plain_s": plain,
        "pool_s": pool,
        "pool_to_plain": pool / plain,
        "examples_per_s": len(texts) / pool,
        "shrinking_pool_s": shrinking,
    }


def peer_runners(size):
    import peer_transformers

    x, y = make_batch(size, seed=0)
    return peer_transformers.runners(model_shape(size), size["length"], x, y)


def paired_speedup(times, peer_times):
    """Median over repeats of peer step time / keras-clx step time (each pair measured back to back)."""
    return statistics.median(p / t for p, t in zip(peer_times, times))


def bench_peer(size, times, clx_train):
    peer = {
        name: {
            "median_step_s": statistics.median(v),
            "examples_per_s": size["batch"] / statistics.median(v),
            "step_s": v,
        }
        for name, v in times.items()
    }
    import transformers

    peer["transformers"] = transformers.__version__
    for method, loop in (("adversarial", "fgm"), ("vanilla", "plain")):
        if method in clx_train:
            peer[f"clx_{method}_speedup"] = paired_speedup(clx_train[method]["step_s"], times[loop])
    return peer


def bench_size(name, args):
    import keras

    size = SIZES[name]
    started = time.time()
    models = build_models(size, args.methods)
    model = next(iter(models.values()))
    result = {
        "model": {
            "size": name,
            **model_shape(size),
            "parameters": model.count_params(),
            "batch": size["batch"],
            "sequence_length": size["length"],
            "dtype_policy": keras.config.dtype_policy().name,
            "forward_gflops": forward_flops(size) / 1e9,
        },
    }
    peer = peer_runners(size) if args.peer else None
    result["train"], peer_times = bench_train(size, models, datasets(size, args.methods), args, peer)
    if args.memory:
        for method, r in result["train"].items():
            r.update(probe_memory(name, method, args))
    if args.pool_batches:
        result["predict"] = bench_predict(size, model, args)
    if args.peer:
        result["peer"] = bench_peer(size, peer_times, result["train"])
    result["seconds"] = round(time.time() - started, 1)
    return result


# === Report ===


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


def _memory(r):
    return f"{r['peak_rss_mb']:,.0f} (model {r['model_rss_mb']:,.0f})" if "peak_rss_mb" in r else "-"


def report_size(result, steps, repeats):
    model = result["model"]
    lines = [
        f"model {model['size']}: {model['num_layers']} layers, hidden {model['hidden_dim']}, vocabulary "
        f"{model['vocabulary']:,}, {model['parameters']:,} parameters; batch {model['batch']}, "
        f"sequence {model['sequence_length']}, {model['dtype_policy']}; {repeats} repeats x {steps} steps",
        "",
        "| method | step (s, median) | / vanilla | / vanilla (min) | examples/s | first step (s) | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["train"].items():
        ratio = f"{r['ratio_to_vanilla']:.2f}" if r["ratio_to_vanilla"] else "-"
        min_ratio = f"{r['min_ratio_to_vanilla']:.2f}" if r["min_ratio_to_vanilla"] else "-"
        mfu = f" (MFU {r['model_flop_utilisation']:.0%})" if "model_flop_utilisation" in r else ""
        lines.append(
            f"| {name} | {r['median_step_s']:.4f} | {ratio} | {min_ratio} | "
            f"{r['examples_per_s']:.1f}{mfu} | {r['first_step_s']:.1f} | {_memory(r)} |"
        )
    if "predict" in result:
        p = result["predict"]
        lines += [
            "",
            f"predict {p['texts']:,} raw texts, batch {p['batch']}: plain model.predict {p['plain_s']:.3f} s, "
            f"pool pass (predict_texts) {p['pool_s']:.3f} s: {p['pool_to_plain']:.2f}x, "
            f"{p['examples_per_s']:.0f} examples/s; shrinking pool over 3 rounds (compiles included): "
            f"plain {p['shrinking_pool_s']['plain']:.2f} s, pool {p['shrinking_pool_s']['pool']:.2f} s",
        ]
    if "peer" in result:
        p = result["peer"]
        lines += [
            "",
            f"peer PyTorch + transformers {p['transformers']}: plain step {p['plain']['median_step_s']:.4f} s "
            f"({p['plain']['examples_per_s']:.1f} examples/s), FGM step {p['fgm']['median_step_s']:.4f} s "
            f"({p['fgm']['examples_per_s']:.1f} examples/s)",
        ]
        if "clx_adversarial_speedup" in p:
            lines.append(
                f"keras-clx adversarial / peer FGM examples/s (median of paired repeats): "
                f"{p['clx_adversarial_speedup']:.2f}x"
            )
    return "\n".join(lines)


def header(result):
    m = result["machine"]
    return (
        f"backend {m['backend']} | {m['platform']} | {m['cpu_count']} CPUs | python {m['python']} | "
        f"keras {m['keras']}" + (f" | {result['threads']} thread(s)" if result["threads"] else "")
    )


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


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peer_transformers
    if args.threads:
        limit_threads(args.threads)
    import keras

    keras.config.set_dtype_policy(args.dtype)
    if args.memory_probe:
        return memory_probe(args)
    started = time.time()
    result = {"machine": machine(), "threads": args.threads, "steps": args.steps, "repeats": args.repeats, "sizes": {}}
    print(header(result), flush=True)
    for name in args.size:
        result["sizes"][name] = bench_size(name, args)
        print("\n" + report_size(result["sizes"][name], args.steps, args.repeats), flush=True)
    result["seconds"] = round(time.time() - started, 1)
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
