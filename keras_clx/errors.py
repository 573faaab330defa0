"""User-facing errors: one line that names the file, line or field and what is expected.

The CLI prints `error: <message>` and exits with the error's `exit_code`:
2 for bad input (`ClxError` and its subclasses), 3 for a diverged training run, 4 when another
process of a multi-process run failed (`keras_clx.training.processes.PeerError`).
"""


class ClxError(Exception):
    """A problem with the user's input (recipe, data, run directory, option).

    The CLI prints `error: <message>` and exits with code 2, without a traceback.
    """

    exit_code = 2


class DataError(ClxError):
    """Malformed or inconsistent data: names the file (and line) at fault."""

    def __init__(self, message, path=None, line=None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class RecipeError(ClxError):
    """An invalid recipe file or override (unknown key, bad value).

    `key`: the dotted field at fault (`train.epochs`), where one is.
    """

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key


class DivergenceError(ClxError):
    """Training produced a non-finite loss; no model or report was written. Exit code 3."""

    exit_code = 3
