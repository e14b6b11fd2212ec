"""Every command ends 0 when done, 1 when refused or nothing was found, 2 on bad usage (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accessguard.demo.app import build
from tests.audit_support import run_cli


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    _, guard = build(directory)
    guard.close()
    return directory


@pytest.mark.parametrize(
    "command",
    [
        ("account", "suspend", "nobody", "--reason", "test"),
        ("account", "resume", "nobody"),
        ("account", "reset-password", "nobody"),
        ("admin", "authenticators", "list", "nobody"),
        ("admin", "enroll-link", "nobody"),
    ],
)
def test_an_unknown_account_is_status_1_with_one_line(data_dir: Path, command: tuple[str, ...]) -> None:
    code, _, err = run_cli(*command, "--data-dir", str(data_dir))
    assert code == 1, err
    assert "nobody" in err and err.startswith("accessguard:") and "Traceback" not in err


@pytest.mark.parametrize(
    "command",
    [
        ("audit", "scope", "--subject", "dr.martin", "--since", "not-a-time"),
        ("account", "suspend", "dr.martin", "--reason", "test", "--known-elsewhere"),
        ("admin", "enroll-link", "dr.martin", "--ttl", "0"),
    ],
)
def test_bad_usage_is_status_2(data_dir: Path, command: tuple[str, ...]) -> None:
    code, _, err = run_cli(*command, "--data-dir", str(data_dir))
    assert code == 2, err
    assert err.startswith("accessguard:") and "Traceback" not in err


def test_a_missing_data_directory_is_status_2(tmp_path: Path) -> None:
    code, _, err = run_cli("admin", "users", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no account directory" in err


def test_done_is_status_0(data_dir: Path) -> None:
    code, out, _ = run_cli("admin", "users", "list", "--data-dir", str(data_dir))
    assert code == 0 and "dr.martin" in out
