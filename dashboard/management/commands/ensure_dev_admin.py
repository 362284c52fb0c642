"""Create a development admin user when there is no superuser, and print how to log in.

The generated password is kept in DATA_DIR/dev-admin.txt (readable by its owner only) so that
every later `make run` can print it again.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password if no superuser exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        User = get_user_model()
        secret_file = settings.DATA_DIR / "dev-admin.txt"
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(f"{username}\n{password}\n")
            secret_file.chmod(0o600)
            self.stdout.write("Created the development admin user.")
        if secret_file.exists():
            saved_user, password = secret_file.read_text().split("\n")[:2]
            user = User.objects.filter(username=saved_user, is_superuser=True).first()
            if user is not None and user.check_password(password):
                self.stdout.write(f"Log in as {saved_user} / {password}")
                return
        self.stdout.write("A superuser exists already; log in with its credentials.")
