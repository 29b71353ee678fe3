"""``python -m sitoken`` runs the CLI."""

from sitoken.cli import run

run()
