"""What the command line needs around the API: quiet framework imports and the mapping of
user errors to one `error: ...` line and an exit code."""

import functools
import os
import sys
import traceback
import warnings

import click


def quiet_frameworks():
    """Silences TensorFlow's and Keras's start-up logging and warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


def load_frameworks():
    """Imports Keras and keras-hub with stderr muted at the file-descriptor level:
    TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL and would bury
    the one-line errors. Import errors still surface as exceptions."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import keras_hub  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def user_errors(command):
    """Turns `ClxError` into one line `error: ...` and its exit code (2 bad input, 3 divergence,
    4 another process of a multi-process run failed); a file the system refuses (unwritable or
    missing folder, full disk) into `error: PATH: reason` and exit code 2; Ctrl-C into
    `error: interrupted` and exit code 130. Any other error is a bug: its traceback, exit code 1
    (in a multi-process run at once, not through the engine's shutdown, which waits for the others)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from keras_clx.errors import ClxError
        from keras_clx.training import processes

        try:
            return command(*args, **kwargs)
        except ClxError as error:
            _exit(" ".join(str(error).splitlines()), getattr(error, "exit_code", 2), processes.current().several)
        except KeyboardInterrupt:
            _exit("interrupted", 130, processes.current().several)
        except Exception as error:
            peer = processes.peer_failure(error)
            if peer is not None:
                _exit(str(peer), peer.exit_code, True)
            if isinstance(error, OSError) and error.filename is not None:
                _exit(f"{error.filename}: {error.strerror or error}", 2, processes.current().several)
            if not processes.current().several:
                raise
            traceback.print_exc()
            _exit(f"process {processes.current().index}: unexpected {type(error).__name__} (traceback above)", 1, True)

    return wrapper


def _exit(message, code, at_once):
    """Prints `error: message` and exits; `at_once` (several processes) without waiting for the
    engine's shutdown, which would wait for the other processes (or time out with a C++ abort)."""
    click.echo(f"error: {message}", err=True)
    if at_once:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
