"""callqa: score Chinese customer-service call transcripts against a YAML rubric.

The library API (see `callqa.api`): `read_transcript`, `load_rubric`, `segment`, `score`,
`score_file`, `score_many`, and for labelled calls `read_labelled_calls` and `train_stage_model`;
results are typed (`Transcript`, `Segmentation`, `Report`).
"""

import importlib
from typing import TYPE_CHECKING, Any

from callqa.version import __version__ as __version__

if TYPE_CHECKING:
    from callqa.api import *  # noqa: F403 - the public API is api.__all__, one list kept in one place


def __getattr__(name: str) -> Any:
    # The API is loaded on first use (PEP 562), not when the package is: the `callqa` command starts
    # in `callqa.cli.run`, which must set up the process before the library's modules load. Each name
    # is looked up once, then kept. (import_module, not `from callqa import api`: that would ask this
    # hook for `api` again.)
    if name.startswith("__") and name != "__all__":  # inspect's and doctest's probes need no API
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = _submodule(__name__, name)  # `from callqa import cli` loads no API
    except AttributeError:
        api = importlib.import_module("callqa.api")
        if name == "__all__":
            value = [*api.__all__, "__version__"]
        elif name in api.__all__:
            value = getattr(api, name)
        else:
            raise
    globals()[name] = value
    return value


def _submodule(package: str, name: str) -> Any:
    """`package.name` imported, for a package's PEP 562 hook; AttributeError if there is none."""
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.{name}":  # the submodule exists but something it imports does not
            raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    api = importlib.import_module("callqa.api")

    return sorted({*globals(), *api.__all__})
