"""The command line: argument parsing, exit codes and calls into the library, nothing else."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from callqa.cli.app import main as main

__all__ = ["main", "run"]


def run() -> NoReturn:
    """The `callqa` command (console script and `python -m callqa`): `main()` in a process set up
    for a short life. Measured on a cold `callqa score CALL` (instructions, callgrind): collecting
    garbage while some 450 modules load, and tearing the interpreter down at exit, were 7 % of it."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # else a scan of every installed package
    gc.disable()  # nothing to collect while modules load; their objects are then frozen out of later scans
    from callqa.cli.app import main

    gc.freeze()
    gc.enable()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    # Out without the interpreter's teardown (freeing every object one by one), once what exit
    # would run has run: atexit handlers (the database's, logging's) and the flush of the output.
    atexit._run_exitfuncs()
    with contextlib.suppress(BrokenPipeError):  # `callqa ... | head`: the reader is gone, no error of ours
        sys.stdout.flush()
    sys.stderr.flush()
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
    if name == "main":
        from callqa.cli.app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
