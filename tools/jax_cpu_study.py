"""Where JAX's CPU train step spends its time at the bench's `small` size (see docs/benchmarks.md).

    python tools/jax_cpu_study.py [--steps 4] [--repeats 3]

Measures, in one JAX process (torch only for the matmul reference):

1. dropout masks: Keras's `jax.random.bernoulli` (threefry) against keras-clx's
   `hash_keep_mask`, per element, on the FFN-output shape;
2. the matmuls of one layer (QKV/output projections, FFN in and out), XLA against
   torch (oneDNN/MKL), in GFLOP/s;
3. the vanilla train step with Keras's dropout, with `FastDropout`, and with dropout
   off, through `fit` (the tf.data feed included) and as the bare compiled step on
   arrays already on the device (the feed excluded).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def best_of(fn, repeats, number=5):
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - started) / number)
    return statistics.median(times)


def dropout_masks(size, repeats):
    import jax
    import jax.numpy as jnp

    from keras_clx.models.dropout import hash_keep_mask

    shape = (size["batch"], size["length"], 256)
    x = jnp.ones(shape)
    keras_like = jax.jit(lambda k, x: jnp.where(jax.random.bernoulli(k, 0.9, shape), x / 0.9, 0))
    hashed = jax.jit(lambda k, x: jnp.where(hash_keep_mask(k, shape, 0.9), x / 0.9, 0))
    scale = jax.jit(lambda x: x / 0.9)
    key = jax.random.PRNGKey(0)
    n = x.size
    return {
        "threefry_ns_per_element": best_of(lambda: keras_like(key, x).block_until_ready(), repeats) / n * 1e9,
        "hash_ns_per_element": best_of(lambda: hashed(key, x).block_until_ready(), repeats) / n * 1e9,
        "scale_only_ns_per_element": best_of(lambda: scale(x).block_until_ready(), repeats) / n * 1e9,
    }


def matmuls(size, repeats):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch

    tokens = size["batch"] * size["length"]
    shapes = {
        "projection 256x256": (tokens, 256, 256),
        "ffn in 256x1024": (tokens, 256, 1024),
        "ffn out 1024x256": (tokens, 1024, 256),
    }
    result = {}
    for name, (m, k, n) in shapes.items():
        a, b = np.random.rand(m, k).astype("float32"), np.random.rand(k, n).astype("float32")
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        dot = jax.jit(jnp.dot)
        flops = 2 * m * k * n
        result[name] = {
            "xla_gflops": flops / best_of(lambda: dot(ja, jb).block_until_ready(), repeats) / 1e9,
            "torch_gflops": flops / best_of(lambda: torch.mm(ta, tb), repeats) / 1e9,
        }
    return result


def train_steps(size, steps, repeats):
    import bench
    import jax
    import keras

    from keras_clx.models import dropout

    variants = {}
    for name in ("keras dropout", "hash dropout", "no dropout"):
        model = bench.build_models(size, ["vanilla"])["vanilla"]
        layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
        for layer in layers:
            if name == "keras dropout":
                layer.__class__ = keras.layers.Dropout
            elif name == "no dropout":
                layer.rate = 0.0
        data = bench.datasets(size, ["vanilla"])["vanilla"]
        bench.timed_epoch(model, data, 1)
        fit_s = statistics.median(bench.timed_epoch(model, data, steps)[0] for _ in range(repeats))

        # The bare compiled step on device arrays: what `fit` adds is the feed and callbacks.
        x, y = bench.make_batch(size, seed=0)
        batch = jax.device_put((x, y))
        state = (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.optimizer.variables],
            [v.value for v in model.metrics_variables],
        )
        compiled = jax.jit(model.train_step, donate_argnums=0)

        def run():
            nonlocal state
            _, state = compiled(state, batch)
            jax.block_until_ready(state[0][0])

        bare_s = best_of(run, repeats, number=steps)
        variants[name] = {
            "fit_step_s": fit_s,
            "bare_step_s": bare_s,
            "dropout_layers": len(layers),
            "hash_layers": sum(isinstance(layer, dropout.FastDropout) for layer in layers),
        }
    return variants


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import bench

    size = bench.SIZES["small"]
    print("dropout masks (ns per element):", dropout_masks(size, args.repeats), flush=True)
    for name, r in matmuls(size, args.repeats).items():
        print(f"matmul {name}: XLA {r['xla_gflops']:.1f} GFLOP/s, torch {r['torch_gflops']:.1f} GFLOP/s", flush=True)
    for name, r in train_steps(size, args.steps, args.repeats).items():
        print(
            f"vanilla step, {name}: fit {r['fit_step_s']:.3f} s, bare compiled step {r['bare_step_s']:.3f} s "
            f"({r['hash_layers']}/{r['dropout_layers']} dropout layers hashed)",
            flush=True,
        )


if __name__ == "__main__":
    main()
