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

__all__ = ["ReaderGuard", "main", "reader_gone", "run"]


def run() -> NoReturn:
    """The `callqa` command (console script and `python -m callqa`): `main()` in a process set up
    for a short life. Measured on a cold `callqa score CALL` (instructions, callgrind): collecting
    garbage while some 450 modules load, and tearing the interpreter down at exit, were 7 % of it."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # else a scan of every installed package
    # The models' matrices are a few labels wide: BLAS worker threads would only cost start-up time
    # and compete with `--jobs` workers for the cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.stdout = ReaderGuard(sys.stdout)
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


class ReaderGuard:
    """sys.stdout that outlives its reader. When the reader of a pipe goes away (`callqa score calls/
    --format jsonl --db … | head -1`), what is still to print is dropped instead of raising
    BrokenPipeError, which click would turn into exit 1 ("a call failed") after losing what was not
    yet stored or written to --out: the command finishes the rest of its work and exits with its own
    code. `reader_gone` tells a batch that nobody reads its output any more."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return int(self._stream.write(text))
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        self.reader_gone = True
        # What the stream still buffers can never be written: its descriptor goes to /dev/null, so
        # no later flush (the interpreter's, at exit) raises again.
        with contextlib.suppress(OSError, AttributeError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno, buffer …: the stream's own
        return getattr(self._stream, name)


def reader_gone() -> bool:
    """Has the reader of stdout gone away (only `run` installs the guard that knows)?"""
    return bool(getattr(sys.stdout, "reader_gone", False))


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
