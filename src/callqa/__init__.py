"""callqa: score Chinese customer-service call transcripts against a YAML rubric.

The library API (see `callqa.api`): `read_transcript`, `load_rubric`, `segment`, `score`,
`score_file`, `score_many`, and for labelled calls `read_labelled_calls` and `train_stage_model`;
results are typed (`Transcript`, `Segmentation`, `Report`).
"""

from typing import TYPE_CHECKING, Any

from callqa import api
from callqa.version import __version__

if TYPE_CHECKING:
    from callqa.api import *  # noqa: F403 - the public API is api.__all__, one list kept in one place

# Every name of api.__all__, the store's (api.LAZY) loaded when first asked for, as in api itself.
globals().update({name: getattr(api, name) for name in api.__all__ if name not in api.LAZY})

__all__ = [*api.__all__, "__version__"]


def __getattr__(name: str) -> Any:
    if name in api.LAZY:
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *api.LAZY})
