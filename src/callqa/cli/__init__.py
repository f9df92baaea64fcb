"""The command line: argument parsing, exit codes and calls into the library, nothing else."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from callqa import _submodule

if TYPE_CHECKING:
    from callqa.cli.app import main as main

__all__ = ["main", "run"]


def run() -> NoReturn:
    """The `callqa` command (console script and `python -m callqa`): `main()` in a process set up
    for a short life. Measured on a cold `callqa score CALL` (instructions, callgrind): collecting
    garbage while some 450 modules load, and tearing the interpreter down at exit, were 7 % of it."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # else a scan of every installed package
    # The models' matrices are a few labels wide: BLAS worker threads would only cost start-up time
    # and compete with `--jobs` workers for the cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    gc.disable()  # nothing to collect while modules load; their objects are then frozen out of later scans
    try:
        from callqa.cli.app import main
    finally:
        gc.freeze()
        gc.enable()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    # Out without the interpreter's teardown (freeing every object one by one), once what exit
    # would run has run: atexit handlers (the database's, logging's) and the flush of the output.
    # Not run: joining non-daemon threads. callqa starts none (rich's and Dask's are daemons); a
    # command that does must join them itself before it returns.
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, AttributeError):  # `| head`: the reader is gone, no error of ours
            stream.flush()
    os._exit(code)


def _exit_code(code: Any) -> int:
    """What the interpreter makes of SystemExit(code): None is 0, an int itself, anything else is
    printed and gives 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def __getattr__(name: str) -> Any:
    # `main` and the command modules (callqa.cli.app, …) load on first use: `run` sets up first.
    if name == "main":
        from callqa.cli.app import main

        return main
    return _submodule(__name__, name)
