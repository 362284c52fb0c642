from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str, env_url


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)]
)
def test_env_bool_reads_common_spellings(raw: str, expected: bool) -> None:
    assert env_bool("DEBUG", False, environ={"DEBUG": raw}) is expected


def test_env_bool_uses_default_when_unset_or_blank() -> None:
    assert env_bool("DEBUG", True, environ={}) is True
    assert env_bool("DEBUG", False, environ={"DEBUG": "  "}) is False


def test_env_bool_refuses_anything_else_naming_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG must be one of .* got 'maybe'"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_env_int_refuses_non_numbers_and_values_below_minimum() -> None:
    assert env_int("PORT", 8000, environ={"PORT": "9000"}) == 9000
    with pytest.raises(ImproperlyConfigured, match="PORT must be an integer, got 'eighty'"):
        env_int("PORT", 8000, environ={"PORT": "eighty"})
    with pytest.raises(ImproperlyConfigured, match="PORT must be at least 1, got 0"):
        env_int("PORT", 8000, minimum=1, environ={"PORT": "0"})


def test_env_float_refuses_non_numbers() -> None:
    assert env_float("TICK", 1.0, environ={"TICK": "0.5"}) == 0.5
    with pytest.raises(ImproperlyConfigured, match="TICK must be a number"):
        env_float("TICK", 1.0, environ={"TICK": "fast"})


def test_env_list_splits_on_commas_and_drops_blanks() -> None:
    assert env_list("HOSTS", ["a"], environ={"HOSTS": "x, y,,z "}) == ["x", "y", "z"]
    assert env_list("HOSTS", ["a"], environ={}) == ["a"]


def test_env_str_strips() -> None:
    assert env_str("NAME", "d", environ={"NAME": " v "}) == "v"


def test_env_url_checks_the_scheme() -> None:
    assert env_url("REDIS_URL", schemes=("redis",), environ={}) == ""
    assert env_url("REDIS_URL", schemes=("redis",), environ={"REDIS_URL": "redis://h:1/0"}) == "redis://h:1/0"
    with pytest.raises(ImproperlyConfigured, match=r"REDIS_URL must be a URL starting with one of redis://"):
        env_url("REDIS_URL", schemes=("redis",), environ={"REDIS_URL": "localhost:6379"})
