"""callqa: score Chinese customer-service call transcripts against a YAML rubric.

The library API (see `callqa.api`): `read_transcript`, `load_rubric`, `segment`, `score`,
`score_file`, `score_many`, and for labelled calls `read_labelled_calls` and `train_stage_model`;
results are typed (`Transcript`, `Segmentation`, `Report`).
"""

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from callqa.version import __version__ as __version__

if TYPE_CHECKING:
    from callqa.api import *  # noqa: F403 - the public API is api.__all__, one list kept in one place


def __getattr__(name: str) -> Any:
    # The API is loaded on first use (PEP 562), not when the package is: the `callqa` command starts
    # in `callqa.cli.run`, which must set up the process before the library's modules load.
    # (import_module, not `from callqa import api`: that would ask this hook for `api` again.)
    if name.startswith("__") and name != "__all__":  # inspect's and doctest's probes need no API
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule (`from callqa import cli`)
        return importlib.import_module(f"{__name__}.{name}")
    api = importlib.import_module("callqa.api")
    if name == "__all__":
        return [*api.__all__, "__version__"]
    if name == "api":
        return api
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    api = importlib.import_module("callqa.api")

    return sorted({*globals(), *api.__all__})
