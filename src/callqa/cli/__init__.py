"""The command line: argument parsing, exit codes and calls into the library, nothing else."""

from callqa.cli.app import app, main

__all__ = ["app", "main"]
