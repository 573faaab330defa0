"""Cheaper dropout masks on CPUs, for the JAX and torch backends.

A dropout mask needs one random number per element, and the stock generators are
slow on CPUs: Keras draws a JAX mask with `jax.random.bernoulli` (threefry, about 12
ns per element under XLA) and a torch mask with `torch.bernoulli` (mt19937, 6-9 ns
per element, one thread). For a 4-layer, hidden-256 BERT at batch 32 × sequence 128
that is 0.15-0.2 s of every training forward pass (measured in docs/benchmarks.md).
`FastDropout` keeps Keras's rate, scaling (kept values × 1/(1 - rate)) and seeding,
and makes the mask from:

- JAX (`hash_keep_mask`): a counter-based hash of the element index (the MurmurHash3
  finaliser) seeded by two words drawn from the layer's `SeedGenerator`: a few integer
  operations that XLA fuses into the consumer, 0.3 ns per element. The kept fraction
  is 1 - rate to within 2⁻³².
- torch on CPU (`lane_keep_mask`): 64-bit draws cut into four 16-bit lanes, one per
  element, so a quarter of the draws: 2.5 times faster at that size. The generator is
  Keras's choice (the global one for an unseeded layer, else one seeded per call from
  the layer's `SeedGenerator`). The kept fraction is 1 - rate to within 2⁻¹⁶.

TensorFlow keeps Keras's dropout (its stateless Philox kernels are vectorised), and so
do torch on accelerators and inside `torch.compile`.
"""

import math

import keras
import numpy as np

_GOLDEN = np.uint32(0x9E3779B9)


def _fmix32(h):
    h = h ^ (h >> 16)
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def hash_keep_mask(seed, shape, keep_probability):
    """JAX: boolean mask of `shape` with P(True) = `keep_probability`, from a JAX seed."""
    import jax
    import jax.numpy as jnp

    a, b = jax.random.bits(seed, (2,), jnp.uint32)
    size = int(np.prod(shape))
    index = jax.lax.iota(jnp.uint32, size).reshape(shape)
    bits = _fmix32(_fmix32(index * _GOLDEN + a) ^ b)
    threshold = min(int(round(keep_probability * 2.0**32)), 2**32 - 1)
    return bits < np.uint32(threshold)


def lane_keep_mask(generator, shape, keep_probability):
    """torch: boolean mask of `shape` with P(True) = `keep_probability`, four 16-bit lanes per draw."""
    import torch

    size = math.prod(shape)
    words = torch.randint(-(2**63), 2**63 - 1, (-(-size // 4),), dtype=torch.int64, generator=generator)
    lanes = words.view(torch.int16)[:size].view(shape)  # uniform on [-2¹⁵, 2¹⁵)
    return lanes < round(keep_probability * 2**16) - 2**15


def _torch_eager_cpu():
    import torch
    from keras.src.backend.torch.core import get_device

    return get_device() == "cpu" and not torch.compiler.is_compiling()


def _torch_generator(seed_generator):
    """Keras's choice: the global torch generator for an unseeded layer, else one seeded per call."""
    from keras.src.backend.torch.random import torch_seed_generator

    return None if seed_generator._initial_seed is None else torch_seed_generator(seed_generator)


class FastDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with the cheaper masks above (Keras's own where they do not apply)."""

    def call(self, inputs, training=False):
        if not training or self.rate == 0 or self.noise_shape is not None:
            return super().call(inputs, training=training)
        keep = 1.0 - self.rate
        backend = keras.backend.backend()
        if backend == "jax":
            import jax.numpy as jnp
            from keras.src.random.seed_generator import draw_seed

            mask = hash_keep_mask(draw_seed(self.seed_generator), inputs.shape, keep)
            return jnp.where(mask, inputs / keep, jnp.zeros_like(inputs))
        if backend != "torch" or not _torch_eager_cpu():
            return super().call(inputs, training=training)
        import torch

        mask = lane_keep_mask(_torch_generator(self.seed_generator), inputs.shape, keep)
        return torch.where(mask, inputs / keep, 0.0)


def use_fast_dropout(model):
    """On JAX and torch, switches every `keras.layers.Dropout` inside `model` to `FastDropout`.

    The layers keep their rate, seed generator and weights (they have none); only the
    mask's random stream changes. Returns the number of layers switched.
    """
    if keras.backend.backend() not in ("jax", "torch"):
        return 0
    switched = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if type(layer) is keras.layers.Dropout:
            layer.__class__ = FastDropout
            switched += 1
    return switched
