#!/usr/bin/env python
"""Django's command-line utility for mlgov."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlgov.settings")
    # Commands run by a person default to development: with DATABASE_URL unset they
    # find the embedded PostgreSQL and the local secrets in .data/.
    os.environ.setdefault("MLGOV_ENV", "development")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
