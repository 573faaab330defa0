"""`fit`: one run (`experiment.fit`), or one sub-run per target language with
`data.leave_one_out` (`multisource.fit_leave_one_out`)."""

from keras_clx import experiment, multisource
from keras_clx.run_dir import default_run_dir


def fit(recipe, out_dir=None, overwrite=False, verbose=1, callbacks=(), resume=False):
    """Trains `recipe` into `out_dir`; returns a `Run` or, for leave-one-out, a `LeaveOneOutRun`."""
    if recipe.data.leave_one_out:
        return multisource.fit_leave_one_out(
            recipe,
            out_dir or default_run_dir("run"),
            overwrite=overwrite,
            verbose=verbose,
            callbacks=callbacks,
            resume=resume,
        )
    return experiment.fit(recipe, out_dir, overwrite=overwrite, verbose=verbose, callbacks=callbacks, resume=resume)
