"""Commands on a damaged data directory, or into a closed pipe: a clear end, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accessguard.audit.access_log import AccessLog
from accessguard.audit.settings import AuditSettings
from accessguard.errors import ConfigurationError
from accessguard.settings import local_keys
from tests.audit_support import run_cli

PSEUDONYM_KEY = "p" * 48

COMMANDS = {
    "verify": ("audit", "verify"),
    "scope": ("audit", "scope", "--subject", "inf.dubois", "--since", "0"),
    "reviews list": ("audit", "reviews", "list"),
    "reviews close": ("audit", "reviews", "close", "0123456789abcdef", "--note", "x"),
    "alerts": ("audit", "alerts"),
}


def _data_dir(tmp_path: Path, damage: str = "") -> Path:
    """A data directory whose access log holds 3,000 served records, then is damaged as asked."""
    (tmp_path / "keys.json").write_text(json.dumps({"pseudonym_key": PSEUDONYM_KEY}))
    audit_db = tmp_path / "audit.db"
    log = AccessLog(audit_db, AuditSettings(), PSEUDONYM_KEY)
    log.served(None, "inf.dubois", "patients.search", [f"pat-{n:05d}" for n in range(3000)], 1_700_000_000.0)
    log.close()
    if damage == "garbage":
        audit_db.write_bytes(b"not an SQLite database, whatever it was")
    elif damage == "truncated":
        audit_db.write_bytes(audit_db.read_bytes()[: audit_db.stat().st_size // 2])
    return tmp_path


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_access_log_is_named_not_a_traceback(tmp_path: Path, command: str, damage: str) -> None:
    data_dir = _data_dir(tmp_path, damage)
    code, out, err = run_cli(*COMMANDS[command], "--data-dir", str(data_dir))
    if command == "verify":
        assert code == 1 and out.startswith(f"TAMPERED: unreadable: access log {data_dir / 'audit.db'}: ")
    else:
        assert code == 2 and err.startswith(f"accessguard: access log {data_dir / 'audit.db'}: ")


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    """`accessguard audit scope … | head`: the closed pipe stops the command with SIGPIPE's status and no traceback."""
    data_dir = _data_dir(tmp_path)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-c", "import sys; from accessguard.cli import main; sys.exit(main())", *COMMANDS["scope"]]
    done = subprocess.run(
        [*command, "--data-dir", str(data_dir), "--format", "json"], stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=60
    )
    os.close(write)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


@pytest.mark.parametrize("damage", [b"{not json", b"\xff\xfe", b'["a list"]', b'{"pseudonym_key": 42}'])
def test_a_damaged_keys_file_is_named_and_never_replaced(tmp_path: Path, damage: bytes) -> None:
    """New keys would orphan the sealed TOTP seeds and every pseudonym in the log: the demo refuses to start, commands stop."""
    data_dir = _data_dir(tmp_path)
    (data_dir / "keys.json").write_bytes(damage)
    with pytest.raises(ConfigurationError, match=r"keys\.json: .*restore it from a backup"):
        local_keys(data_dir)
    assert (data_dir / "keys.json").read_bytes() == damage
    code, _, err = run_cli(*COMMANDS["scope"], "--data-dir", str(data_dir))
    assert code == 2 and f"accessguard: {data_dir / 'keys.json'}: " in err
