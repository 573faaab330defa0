"""`fit`: one run (`experiment.fit`), or one sub-run per target language with
`data.leave_one_out` (`multisource.fit_leave_one_out`)."""

import keras

from keras_clx import experiment, multisource
from keras_clx.errors import ClxError
from keras_clx.run_dir import default_run_dir
from keras_clx.training import processes


def fit(recipe, out_dir=None, overwrite=False, verbose=1, callbacks=(), resume=False):
    """Trains `recipe` into `out_dir`; returns a `Run` or, for leave-one-out, a `LeaveOneOutRun`."""
    if recipe.data.leave_one_out:
        if processes.from_environment(keras.backend.backend(), recipe.train.distribution).several:
            raise ClxError("data.leave_one_out is not available across several processes: train one sub-run at a time")
        return multisource.fit_leave_one_out(
            recipe,
            out_dir or default_run_dir("run"),
            overwrite=overwrite,
            verbose=verbose,
            callbacks=callbacks,
            resume=resume,
        )
    return experiment.fit(recipe, out_dir, overwrite=overwrite, verbose=verbose, callbacks=callbacks, resume=resume)
