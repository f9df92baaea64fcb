"""The command line: argument parsing, exit codes and calls into the library, nothing else."""

from callqa.cli.app import main

__all__ = ["main"]
