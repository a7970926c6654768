"""The ``visionflow`` command line (typer + rich)."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``visionflow`` console script."""
    from visionflow.cli.app import app

    app()


__all__ = ["main"]
