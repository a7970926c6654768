"""``python -m visionflow`` runs the CLI."""

from visionflow.cli import main

main()
