"""callqa: score Chinese customer-service call transcripts against a YAML rubric.

The library API (see `callqa.api`): `read_transcript`, `load_rubric`, `segment`, `score`,
`score_file`, `score_many`, and for labelled calls `read_labelled_calls` and `train_stage_model`;
results are typed (`Transcript`, `Segmentation`, `Report`).
"""

from callqa import api
from callqa.api import *  # noqa: F403 - the public API is api.__all__, one list kept in one place
from callqa.version import __version__

__all__ = [*api.__all__, "__version__"]
