"""`keras-clx` with the training-data order of the commits before 3fe222f (a behaviour check, not a feature).

    python tools/fit_legacy_order.py fit recipes/demo.py --out RUN --set train.clip_norm=none

Since 3fe222f epoch k visits the training examples in the permutation drawn from (seed, k)
(`keras_clx.training.data_order`, so that a run resumes mid-epoch); before, one tf.data shuffle
seeded with `train.seed` was reshuffled every epoch. This runs the CLI with the old order for
plain (not self-training, not resumed) fits, so that a run of today compares with a run of an
older commit (`tools/compare_demo_tables.py`).
"""

import sys

from keras_clx import cli, fit_setup


def legacy_stream(task, corpus, labels, model, recipe, position, preprocessor=None):
    if position.resumed:
        raise SystemExit("fit_legacy_order.py does not resume runs")
    ds = task.dataset(
        corpus.train,
        labels,
        preprocessor or model.preprocessor,
        recipe.train.batch_size,
        shuffle=True,
        seed=recipe.train.seed,
    )
    return ds.repeat(recipe.train.epochs)  # each repetition reshuffles, as each epoch did


if __name__ == "__main__":
    fit_setup.training_stream = legacy_stream
    sys.exit(cli.main(sys.argv[1:], prog_name="keras-clx"))
