"""The development admin's password file is private from the moment it exists."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dashboard.management.commands.ensure_dev_admin import write_private


def test_the_file_is_created_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the mode set after writing, this would leave the file readable by everyone.
    monkeypatch.setattr(os, "fchmod", lambda fd, mode: None)
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    old = os.umask(0)
    try:
        write_private(tmp_path / "var" / "dev-admin.txt", "admin\nsecret\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "var" / "dev-admin.txt").stat().st_mode) == 0o600
