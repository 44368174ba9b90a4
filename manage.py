#!/usr/bin/env python
"""Django's command-line utility for mlgov."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlgov.settings")
    # Without DATABASE_URL a command runs against the embedded PostgreSQL and the local
    # secrets in .data/ (development). With it, this is a real deployment: production,
    # so a missing secret stops the command instead of minting a new local master key.
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("MLGOV_ENV", "development")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
