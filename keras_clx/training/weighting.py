"""Zero-shot instance weights (paper 004, §2.2), in backend-neutral `keras.ops`.

Each training batch pairs a labelled source batch D_s with a batch D_t of unlabelled
target-language text. With h the classifier's sentence representation, source
example i gets

    w_i = Σ_{j ∈ D_t} score(h_i, h_j),   normalised so that Σ_{i ∈ D_s} w_i = 1,

and the batch loss is Σ_i w_i · L_i (paper 004, Eq. 2 weights the gradients: the
weights are constants for the gradient). The paper defines the cosine score and
only names the other two; the formulas chosen here:

- `cosine` (the paper's): (cos(h_i, h_j) + 1) / 2, in [0, 1].
- `euclidean`: a Gaussian kernel on the Euclidean distance,
  exp(-‖h_i - h_j‖² / m), with m the median squared source-target distance of the
  batch (the median heuristic, so the score does not depend on the scale of h).
  Σ_j score(i, j) is then a kernel density estimate of the target batch at h_i:
  source examples in dense target regions weigh most.
- `coral`: ((h_i - μ_s) · (h_j - μ_t))², μ the batch means. These are exactly the
  pairwise terms of ⟨C_s, C_t⟩_F, the cross term of the CORAL distance
  ‖C_s - C_t‖²_F (Sun et al., 2016; C the feature covariances): Σ_j score(i, j)
  = (n_t - 1) (h_i - μ_s)ᵀ C_t (h_i - μ_s), so source examples that vary along the
  target's directions of variance weigh most.

A batch whose scores are all zero gets uniform weights.
"""

from keras import ops

SCORES = ("cosine", "euclidean", "coral")
_TINY = 1e-12


def _features(h):
    return ops.stop_gradient(ops.cast(h, "float32"))


def cosine_scores(source, target):
    """(cos(h_i, h_j) + 1) / 2 for every source i and target j: shape `(n_s, n_t)`."""
    source, target = _features(source), _features(target)
    source = source / ops.maximum(ops.norm(source, axis=-1, keepdims=True), _TINY)
    target = target / ops.maximum(ops.norm(target, axis=-1, keepdims=True), _TINY)
    return (ops.matmul(source, ops.transpose(target)) + 1.0) / 2.0


def squared_distances(source, target):
    """‖h_i - h_j‖² for every source i and target j: shape `(n_s, n_t)`."""
    source, target = _features(source), _features(target)
    cross = ops.matmul(source, ops.transpose(target))
    s2 = ops.sum(ops.square(source), axis=-1)[:, None]
    t2 = ops.sum(ops.square(target), axis=-1)[None, :]
    return ops.maximum(s2 + t2 - 2.0 * cross, 0.0)


def euclidean_scores(source, target):
    """exp(-‖h_i - h_j‖² / m), m the median squared distance of the batch's pairs."""
    d2 = squared_distances(source, target)
    m = ops.median(d2)
    m = ops.where(m > _TINY, m, 1.0)
    return ops.exp(-d2 / m)


def coral_scores(source, target):
    """((h_i - μ_s) · (h_j - μ_t))²: the pairwise terms of ⟨C_s, C_t⟩_F."""
    source, target = _features(source), _features(target)
    source = source - ops.mean(source, axis=0, keepdims=True)
    target = target - ops.mean(target, axis=0, keepdims=True)
    return ops.square(ops.matmul(source, ops.transpose(target)))


SCORE_FUNCTIONS = {"cosine": cosine_scores, "euclidean": euclidean_scores, "coral": coral_scores}


def instance_weights(source, target, score="cosine"):
    """w_i = Σ_j score(h_i, h_j) over the target batch, normalised to sum 1 over the source batch.

    Args:
        source: `(n_s, d)` representations of the labelled source batch.
        target: `(n_t, d)` representations of the unlabelled target batch.
        score: one of `SCORES`.

    Returns:
        `(n_s,)` float32 weights, constant for the gradient.
    """
    if score not in SCORE_FUNCTIONS:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    w = ops.sum(SCORE_FUNCTIONS[score](source, target), axis=1)
    total = ops.sum(w)
    uniform = ops.ones_like(w) / ops.cast(ops.shape(w)[0], "float32")
    return ops.stop_gradient(ops.where(total > _TINY, w / ops.maximum(total, _TINY), uniform))


def effective_sample_size(weights):
    """1 / (n Σ w_i²) for weights summing to 1: 1.0 when uniform, 1/n when one example has all."""
    n = ops.cast(ops.shape(weights)[0], "float32")
    return 1.0 / (n * ops.maximum(ops.sum(ops.square(weights)), _TINY))
