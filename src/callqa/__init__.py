"""callqa: score Chinese customer-service call transcripts against a YAML rubric."""

__version__ = "0.1.0"
