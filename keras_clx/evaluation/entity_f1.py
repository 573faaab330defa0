"""Entity-level precision, recall and F1 over IOB2 tag sequences (exact match).

Matches `seqeval.metrics` in its default mode (micro average, zero when a
denominator is zero): an entity counts as found only if its type, first and
last word all match a gold entity of the same sequence.
"""

from keras_clx.data.iob import tag_chunks


def extract_entities(tags):
    """`(type, start, end)` entities of one IOB2 tag sequence, `end` exclusive.

    Same entities as `seqeval.metrics.sequence_labeling.get_entities` (whose
    `end` is inclusive); an `I-X` that does not continue an `X` starts one.
    """
    return tag_chunks(tags)


def entity_scores(true_tag_seqs, pred_tag_seqs):
    """Micro-averaged entity scores over sequences of IOB2 tags.

    Args:
        true_tag_seqs: gold tag sequences (lists of tags).
        pred_tag_seqs: predicted tag sequences, each as long as its gold one.

    Returns:
        A dict with `precision`, `recall`, `f1` (floats), `support` (gold
        entities) and `predicted` (predicted entities).
    """
    if len(true_tag_seqs) != len(pred_tag_seqs):
        raise ValueError(f"{len(true_tag_seqs)} gold sequences but {len(pred_tag_seqs)} predicted")
    true, pred = set(), set()
    for i, (true_tags, pred_tags) in enumerate(zip(true_tag_seqs, pred_tag_seqs)):
        if len(true_tags) != len(pred_tags):
            raise ValueError(f"sequence {i}: {len(true_tags)} gold tags but {len(pred_tags)} predicted")
        true.update((i,) + entity for entity in extract_entities(true_tags))
        pred.update((i,) + entity for entity in extract_entities(pred_tags))
    correct = len(true & pred)
    precision = correct / len(pred) if pred else 0.0
    recall = correct / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": len(true),
        "predicted": len(pred),
    }


def entity_counts(true_tag_seqs, pred_tag_seqs):
    """Per sequence, `(tp, fp, fn)` entity counts (an int array of shape `(n, 3)`).

    Summed over sequences they give `entity_scores`: precision `tp / (tp + fp)`,
    recall `tp / (tp + fn)`, F1 `2tp / (2tp + fp + fn)`.
    """
    import numpy as np

    counts = np.zeros((len(true_tag_seqs), 3), dtype="int32")
    for i, (true_tags, pred_tags) in enumerate(zip(true_tag_seqs, pred_tag_seqs, strict=True)):
        true, pred = set(extract_entities(true_tags)), set(extract_entities(pred_tags))
        counts[i] = (len(true & pred), len(pred - true), len(true - pred))
    return counts


def entity_scores_by_type(true_tag_seqs, pred_tag_seqs):
    """`entity_scores` of each entity type alone (the rows of seqeval's
    `classification_report`): `{type: {precision, recall, f1, support, predicted}}`."""
    types = sorted(
        {kind for seqs in (true_tag_seqs, pred_tag_seqs) for tags in seqs for kind, _, _ in extract_entities(tags)}
    )

    def only(seqs, kind):
        return [[tag if tag != "O" and tag[2:] == kind else "O" for tag in tags] for tags in seqs]

    return {kind: entity_scores(only(true_tag_seqs, kind), only(pred_tag_seqs, kind)) for kind in types}
