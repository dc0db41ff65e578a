"""Command-line plumbing shared by every entry point (`tf3d.*`, `pipelines.*`).

Each CLI parses its arguments with `parser()` (which adds `--verbose` and
`--debug`) and hands its body to `run(body, args)`:

* TensorFlow's C++ start-up lines (oneDNN, cudart_stub, cuInit) are hidden
  unless `--verbose`: `quiet_tensorflow()` sets `TF_CPP_MIN_LOG_LEVEL` and
  imports TensorFlow with the process's stderr pointed at a temporary file,
  because the first lines are written by absl before any log level applies
  (measured with TF 2.21: `TF_CPP_MIN_LOG_LEVEL=3`, `GLOG_minloglevel` and
  `ABSL_MIN_LOG_LEVEL` all leave them in). If the import fails, what it wrote
  is printed after all.
* A user error (`USER_ERRORS`: a bad config, a missing or corrupt file, a
  value out of range) ends the command with one line `error: ...` on stderr
  and exit status 1, no traceback; `--debug` re-raises it.
"""

import argparse
import contextlib
import os
import sys
import tempfile

_QUIET_ENV = "TF3D_QUIET_TF"


class UserError(Exception):
    """An error the user can act on; the CLI prints its message as one line."""


# ConfigError and CorruptDataError are ValueErrors; a missing file is an OSError.
USER_ERRORS = (UserError, ValueError, OSError)


def parser(prog, description):
    """An `ArgumentParser` with the shared `--verbose` and `--debug` flags."""
    result = argparse.ArgumentParser(prog=prog, description=description)
    result.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and C++ log lines")
    result.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return result


def add_experiment_arguments(parser, example,
                             overrides_help="override a config key (value parsed as YAML); repeatable"):
    """The positional experiment YAML and the repeatable `--set KEY=VALUE` (as `overrides`) of every runner."""
    parser.add_argument("experiment", help=f"experiment YAML, e.g. {example}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=overrides_help)
    return parser


@contextlib.contextmanager
def _stderr_to_file():
    """Points file descriptor 2 at a temporary file; yields the file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield capture
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow(verbose=False):
    """Imports TensorFlow without its C++ start-up lines (unless `verbose`).

    Sets `TF_CPP_MIN_LOG_LEVEL=3` (kept if the user set it) and exports
    `TF3D_QUIET_TF=1` so that worker processes started later do the same.
    Safe to call more than once; a no-op once TensorFlow is imported.
    """
    if verbose:
        os.environ.pop(_QUIET_ENV, None)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ[_QUIET_ENV] = "1"
    if "tensorflow" in sys.modules:
        return
    with _stderr_to_file() as capture:
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            failed = True
        else:
            failed = False
        if failed:
            capture.seek(0)
            written = capture.read().decode(errors="replace")
    if failed:
        sys.stderr.write(written)
        import tensorflow  # noqa: F401  (raises the same error, with its traceback)


def quiet_in_worker():
    """For worker processes: imports TensorFlow quietly if the parent CLI was quiet."""
    if os.environ.get(_QUIET_ENV) == "1":
        quiet_tensorflow()


def run(body, args):
    """Runs `body(args)` as a CLI: returns its exit status (0 if it returns None).

    User errors print `error: <message>` and return 1 (re-raised with
    `args.debug`); Ctrl-C returns 130.
    """
    debug = getattr(args, "debug", False)
    try:
        quiet_tensorflow(getattr(args, "verbose", False))
        status = body(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0 if status is None else int(status)


def one_line(error):
    """The message of `error` (OSError's file name included), without a traceback."""
    if isinstance(error, OSError) and error.filename and str(error.filename) not in str(error):
        return f"{error.strerror or error}: {error.filename}"
    return (str(error) or type(error).__name__).strip()
