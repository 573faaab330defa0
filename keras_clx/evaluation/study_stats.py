"""Statistics of a study (pure NumPy): seeds' mean ± std, paired bootstrap, sign test.

Inputs are the per-example outcomes a run stores (`outcomes.npz`, see
`Report.write`): sequence tasks `true`/`pred` label ids, token tasks per-text
entity `tp`/`fp`/`fn` counts. Every metric is a function of per-example
statistics summed over examples (`per_example`, `metrics_from_sums`), so a
bootstrap resample is a matrix product: how often each example was drawn times
the statistics.
"""

import math

import numpy as np


def outcome_kind(outcomes):
    """`"token"` (entity counts), `"tagging"` (correct words per text) or `"sequence"` (label ids)."""
    return "token" if "tp" in outcomes else "tagging" if "words" in outcomes else "sequence"


def per_example(outcomes):
    """`(n, k)` float statistics whose column sums give every metric (`metrics_from_sums`).

    sequence: `[correct, tp_c..., fp_c..., fn_c...]` over the classes in gold or
    predictions; token: `[tp, fp, fn]`; tagging: `[correct words, words]`.
    """
    if outcome_kind(outcomes) == "token":
        return np.stack([outcomes["tp"], outcomes["fp"], outcomes["fn"]], axis=-1).astype("float64")
    if outcome_kind(outcomes) == "tagging":
        return np.stack([outcomes["correct"], outcomes["words"]], axis=-1).astype("float64")
    true, pred = np.asarray(outcomes["true"]), np.asarray(outcomes["pred"])
    classes = np.union1d(true, pred)
    is_true, is_pred = true[:, None] == classes, pred[:, None] == classes
    columns = [(true == pred)[:, None], is_true & is_pred, is_pred & ~is_true, is_true & ~is_pred]
    return np.concatenate(columns, axis=1).astype("float64")


def _ratio(numerator, denominator):
    return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), 0.0)


def metrics_from_sums(kind, sums, n):
    """Every metric from statistics summed over `n` examples (`sums`: `(..., k)`)."""
    sums = np.asarray(sums, dtype="float64")
    if kind == "token":
        tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
        return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}
    if kind == "tagging":
        return {"accuracy": _ratio(sums[..., 0], sums[..., 1])}
    classes = (sums.shape[-1] - 1) // 3
    tp, fp, fn = (sums[..., 1 + i * classes : 1 + (i + 1) * classes] for i in range(3))
    denominator = 2 * tp + fp + fn
    present = denominator > 0  # macro-F1 averages the classes present in gold or predictions
    f1 = _ratio(2 * tp, denominator).sum(-1) / np.maximum(present.sum(-1), 1)
    return {"accuracy": sums[..., 0] / max(n, 1), "macro_f1": f1}


def score(outcomes):
    """The metrics of one outcome table (equal to the run's report)."""
    x = per_example(outcomes)
    return {k: float(v) for k, v in metrics_from_sums(outcome_kind(outcomes), x.sum(0), len(x)).items()}


def errors(outcomes):
    """Per example, its number of errors: sequence 0/1, tagging wrong words, token fp + fn."""
    if outcome_kind(outcomes) == "token":
        return np.asarray(outcomes["fp"]) + np.asarray(outcomes["fn"])
    if outcome_kind(outcomes) == "tagging":
        return np.asarray(outcomes["words"]) - np.asarray(outcomes["correct"])
    return (np.asarray(outcomes["true"]) != np.asarray(outcomes["pred"])).astype("int64")


def mean_std(values):
    """`(mean, std)` over seeds; std is the sample standard deviation (None for one value)."""
    values = np.asarray(values, dtype="float64")
    if not len(values):
        return None, None
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else None)


def sign_test(wins, losses):
    """Two-sided exact binomial sign test (ties dropped): P(a split at least this uneven | p = 1/2)."""
    n, k = wins + losses, min(wins, losses)
    if n == 0:
        return 1.0
    ks = np.arange(k + 1)
    log_pmf = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in ks]) - n * math.log(2)
    top = log_pmf.max()
    return float(min(1.0, 2 * math.exp(top) * np.exp(log_pmf - top).sum()))


def paired_sign_test(pairs):
    """Sign test over seeds x examples: `pairs` is a list of (variant, baseline) outcome tables.

    A variant wins an example where it makes fewer errors than the baseline (same seed, same
    example). Entity F1 has no such test (all values None): it does not split into per-text
    terms, and a text's error count (fp + fn) can fall while F1 falls (a model that predicts
    fewer spans); its paired bootstrap interval is the test.
    """
    if pairs and outcome_kind(pairs[0][0]) == "token":
        return {"wins": None, "losses": None, "ties": None, "p_value": None}
    wins = losses = 0
    for variant, baseline in pairs:
        ev, eb = errors(variant), errors(baseline)
        wins += int((ev < eb).sum())
        losses += int((ev > eb).sum())
    return {
        "wins": wins,
        "losses": losses,
        "ties": sum(len(errors(v)) for v, _ in pairs) - wins - losses,
        "p_value": sign_test(wins, losses),
    }


def paired_bootstrap(pairs_by_language, metric, average=(), samples=1000, level=0.95, seed=0):
    """Paired bootstrap of the difference variant - baseline in `metric`, over seeds x examples.

    `pairs_by_language`: `{language: [(variant, baseline) outcome tables, one per seed]}`,
    the same seeds in the same order for every language. A replicate draws the seeds
    with replacement (shared by all languages), then for each drawn seed the examples
    of each language with replacement, scoring variant and baseline on the same draw;
    its difference is the mean over the drawn seeds. `average` names the languages whose
    mean difference is reported as `"target avg"` (their replicates are averaged).

    Returns `{language: {"difference", "low", "high"}}`: the mean paired difference on the
    full data and the percentile interval at `level`.
    """
    rng = np.random.default_rng(seed)
    seeds = {len(pairs) for pairs in pairs_by_language.values()}
    if len(seeds) != 1:
        raise ValueError(f"every language needs the same seeds, got counts {sorted(seeds)}")
    num_seeds = seeds.pop()
    draws = rng.integers(0, num_seeds, size=(samples, num_seeds))
    out, replicates = {}, {}
    for language, pairs in pairs_by_language.items():
        kind = outcome_kind(pairs[0][0])
        full, reps = [], np.zeros(samples)
        for s, (variant, baseline) in enumerate(pairs):
            xv, xb = paired_statistics(variant, baseline)
            n = len(xv)
            value = metrics_from_sums(kind, np.stack([xv.sum(0), xb.sum(0)]), n)[metric]
            full.append(value[0] - value[1])
            picked = draws == s  # (samples, slots): the slots that drew this seed
            count = int(picked.sum())
            if count:
                weights = rng.multinomial(n, np.full(n, 1 / n), size=count)
                sums = np.stack([weights @ xv, weights @ xb])
                value = metrics_from_sums(kind, sums, n)[metric]
                np.add.at(reps, np.nonzero(picked)[0], value[0] - value[1])
        replicates[language] = reps / num_seeds
        out[language] = {"difference": float(np.mean(full))}
    average = [lang for lang in average if lang in replicates]
    if average:
        replicates["target avg"] = np.mean([replicates[lang] for lang in average], axis=0)
        out["target avg"] = {"difference": float(np.mean([out[lang]["difference"] for lang in average]))}
    tail = 100 * (1 - level) / 2
    for language, reps in replicates.items():
        out[language]["low"], out[language]["high"] = (float(v) for v in np.percentile(reps, [tail, 100 - tail]))
    return out


def paired_statistics(variant, baseline):
    """`per_example` statistics of a variant and its baseline on the same examples, over the same classes."""
    if len(errors(variant)) != len(errors(baseline)):
        raise ValueError(f"cannot pair {len(errors(variant))} examples with {len(errors(baseline))}")
    if outcome_kind(variant) == "token":
        return per_example(variant), per_example(baseline)
    n = len(variant["true"])
    x = per_example({k: np.concatenate([variant[k], baseline[k]]) for k in ("true", "pred")})
    return x[:n], x[n:]
