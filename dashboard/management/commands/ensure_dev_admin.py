"""In embedded mode (or with DEBUG), create a development admin user when there is no superuser,
and print how to log in.

The generated password is kept in DATA_DIR/dev-admin.txt, created readable by its owner only, so
that every later `make run` can print it again. Production mode never gets such a user, nor a
password in its logs: create accounts there with `manage.py createsuperuser`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file that is readable by its owner only from the moment it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an older file may have been created with other bits
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


class Command(BaseCommand):
    help = "Embedded mode: create an 'admin' superuser with a random password if no superuser exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        if settings.RUN_MODE != "embedded" and not settings.DEBUG:
            self.stdout.write(
                "Production mode: no development admin. Create accounts with `manage.py createsuperuser`."
            )
            return
        User = get_user_model()
        secret_file = settings.DATA_DIR / "dev-admin.txt"
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            write_private(secret_file, f"{username}\n{password}\n")
            self.stdout.write("Created the development admin user.")
        if secret_file.exists():
            saved_user, password = secret_file.read_text().split("\n")[:2]
            user = User.objects.filter(username=saved_user, is_superuser=True).first()
            if user is not None and user.check_password(password):
                self.stdout.write(f"Log in as {saved_user} / {password}")
                return
        self.stdout.write("A superuser exists already; log in with its credentials.")
