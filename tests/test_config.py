"""The configuration file: broken files refused by key and line, secrets from the environment, the reference in step with the code."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet
from hypothesis import event, given
from hypothesis import strategies as st

from accessguard.config import ConfigFileError, load
from accessguard.config.effective import effective_toml, toml_value
from accessguard.config.lines import key_lines
from accessguard.config.reference import BEGIN, END, rewritten
from accessguard.config.schema import CODE_ONLY, DOCS, TABLES, all_keys, keys_of, type_name
from accessguard.demo.app import demo_keys
from accessguard.demo.geodb import DEMO_DATABASE
from accessguard.routes import ProtectedRoute
from accessguard.settings import Settings
from tests.audit_support import run_cli
from tests.conftest import CAEN, _copy_demo
from tests.demo_process import demo_process
from tests.property_support import budget

ROOT = Path(__file__).resolve().parents[1]
SESSION_KEY, PSEUDONYM_KEY, AUDIT_KEY = "s" * 40, "p" * 40, "a" * 40
ENCRYPTION_KEY = Fernet.generate_key().decode()
SECRETS = {
    "ACCESSGUARD_SESSION_KEY": SESSION_KEY,
    "ACCESSGUARD_PSEUDONYM_KEY": PSEUDONYM_KEY,
    "ACCESSGUARD_ENCRYPTION_KEY": ENCRYPTION_KEY,
}
ROUTES = """
[[routes]]
pattern = "/patients/{id}"
name = "patients.read"
served_ids = "id"
"""


def config(tmp_path: Path, body: str, routes: str = ROUTES) -> Path:
    """A configuration file in ``tmp_path`` with a data directory, ``body`` at the top and the routes after."""
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "accessguard.toml"
    path.write_text(f'data_dir = "data"\npublic_url = "https://annuaire.example.fr"\n{body}\n{routes}')
    return path


#: Broken files: (the file's top, its routes, the key named, the line named, a fragment of the message).
BROKEN = {
    "unknown key, with a suggestion": ("sesion_ttl_s = 60", ROUTES, "sesion_ttl_s", 3, "did you mean 'session_ttl_s'?"),
    "unknown key in a table": ("[audit]\nretention_dayz = 3", "", "audit.retention_dayz", 4, "did you mean 'retention_days'?"),
    "wrong type, boolean": ('cookie_secure = "yes"', ROUTES, "cookie_secure", 3, "expected a boolean, got a string"),
    "wrong type, integer": ("session_ttl_s = 1.5", ROUTES, "session_ttl_s", 3, "expected an integer, got a number"),
    "wrong type, array": ('trusted_proxies = "10.0.0.0/8"', ROUTES, "trusted_proxies", 3, "expected an array of strings, got a string"),
    "wrong type inside an array": (
        'trusted_proxies = [\n  "10.0.0.0/8",\n  8,\n]',
        ROUTES,
        "trusted_proxies[1]",
        5,
        "expected a string, got an integer",
    ),
    "wrong type, date": ("session_ttl_s = 2025-09-08", ROUTES, "session_ttl_s", 3, "got a date or time"),
    "a table where a value goes": ("[acr_values]\notp = 3", ROUTES, "acr_values.otp", 4, "expected a string, got an integer"),
    "a secret written in the file": (f'session_key = "{SESSION_KEY}"', ROUTES, "session_key", 3, "never written in the configuration"),
    "a secret written in a table": (f'[audit]\nkey = "{AUDIT_KEY}"', ROUTES, "audit.key", 4, "ACCESSGUARD_AUDIT_KEY_FILE"),
    "a bad network": ('trusted_proxies = ["10.0.0.300/8"]', ROUTES, "trusted_proxies", 3, "does not appear to be an IPv4 or IPv6"),
    "an unknown engine": ('policy_engine = "rego"', ROUTES, "policy_engine", 3, "is not one of wasm, regopy"),
    "a route without served ids": ("", '\n\n[[routes]]\npattern = "/p/{id}"\nname = "p"', "routes[0].served_ids", 6, "no served_ids"),
    "a route's bad pattern": (
        "",
        ROUTES + '\n[[routes]]\npattern = "patients"\nname = "search"\nserved_ids = "id"',
        "routes[1].pattern",
        11,
        "must start with '/'",
    ),
    "a route's missing name": ("", '[[routes]]\npattern = "/p"\nserved_ids = "id"', "routes[0].name", 4, "required: a string"),
    "a route's count of the wrong type": ("", ROUTES + "requested_count = 2.5", "routes[0].requested_count", 9, "an integer or a string"),
    "a method in lower case": ("", ROUTES + 'methods = ["get"]', "routes[0].methods", 9, "'get' is not an HTTP method in capitals"),
    "a key with a control character": ('"x\\u001b[2J" = 1', ROUTES, '"x\\u001b[2J"', 3, "unknown key"),
    "a NUL in a path": ('[audit]\nwitness = "w\\u0000x"', ROUTES, "audit.witness", 4, "control character U+0000"),
    "no routes": ("", "", "routes", None, "required: an array of tables"),
    "an http origin": ('webauthn_origins = ["http://annuaire.example.fr"]', ROUTES, "webauthn_origins", 3, "https, or http on localhost"),
    "oidc without audience": ('[oidc]\nissuer = "https://idp.example"', ROUTES, "oidc.audience", 3, "required: a string"),
    "oidc over http": ('[oidc]\nissuer = "http://idp.example"\naudience = "a"', ROUTES, "oidc.issuer", 4, "must be an https URL"),
    "a bad amr mapping": (
        '[oidc]\nissuer = "https://idp.example"\naudience = "a"\n[oidc.claims.amr_factors]\nface = "magic"',
        ROUTES,
        "oidc.claims.amr_factors.face",
        7,
        "is not one of",
    ),
    "audit witness inside the data directory": ('[audit]\nwitness = "data/w.jsonl"', ROUTES, "audit.witness", 4, "is inside data_dir"),
    "a webhook without key": ('[audit]\nwebhook_url = "https://siem.example/hook"', ROUTES, "audit.webhook_key", 3, "needs a signing key"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_file_is_refused_naming_the_key_and_its_line(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body, routes, key, line, fragment = BROKEN[case]
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = config(tmp_path, body, routes)
    code, out, err = run_cli("config", "check", str(path))
    assert code == 2 and out == "", err
    problem = next((p for p in err.splitlines() if f": {key}: " in p), None)
    assert problem is not None, err
    assert problem.startswith(f"{path}:{line or '-'}: {key}: ") and fragment in problem, problem
    if key == "oidc.claims.amr_factors.face":  # a validation message names the key as the code does: its line is still found
        assert problem.startswith(f"{path}:7:")


def test_a_public_url_that_is_no_url_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "accessguard.toml"
    path.write_text(f'data_dir = "data"\n\npublic_url = "annuaire"\n{ROUTES}')
    with pytest.raises(ConfigFileError) as refused:
        load(path, SECRETS)
    assert str(refused.value) == f"{path}:3: public_url: 'annuaire' must be an http(s) URL such as https://annuaire.example.fr"


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = config(tmp_path, 'sesion_ttl_s = 60\ncookie_secure = "no"\n[audit]\nretention_days = "1y"')
    with pytest.raises(ConfigFileError) as refused:
        load(path, {})
    keys = [problem.key for problem in refused.value.problems]
    assert keys == ["sesion_ttl_s", "cookie_secure", "audit.retention_days", "session_key", "pseudonym_key", "encryption_key"]
    assert [p.line for p in refused.value.problems[:3]] == [3, 4, 6]


def test_a_file_that_is_not_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "accessguard.toml"
    path.write_text('data_dir = "x"\nroutes = [\n')
    code, _, err = run_cli("config", "check", str(path))
    assert code == 2 and f"{path}:3: (syntax): " in err
    code, _, err = run_cli("config", "check", str(tmp_path / "missing.toml"))
    assert code == 2 and "(file): unreadable: No such file or directory" in err


def test_lines_are_found_past_strings_comments_and_inline_tables() -> None:
    text = '''# name = "a comment"
description = """
routes = "inside a multi-line string"
\\""" still inside
"""
literal = \'\'\'x = 1\'\'\'
"quoted.key" = 1
audit.key_file = "k"  # a dotted key
oidc = { issuer = "https://idp.example", claims = { subject = "sub" } }
list = [
  { a = 1 },
  "x # not a comment",
  { b = [1, 2] },
]

[[routes]]
name = "a"
[[routes]]
name = "b"
[ "other table" ]
witness = 'w'
'''
    tomllib.loads(text)  # the text is valid TOML
    lines = key_lines(text)
    assert "routes" not in {path[0] for path, line in lines.items() if line == 3}
    assert lines[("quoted.key",)] == 7
    assert lines[("audit", "key_file")] == 8
    assert lines[("oidc", "issuer")] == 9 and lines[("oidc", "claims", "subject")] == 9
    assert lines[("list", 0, "a")] == 11 and lines[("list", 1)] == 12 and lines[("list", 2, "b", 1)] == 13
    assert lines[("routes", 0, "name")] == 17 and lines[("routes", 1, "name")] == 19
    assert lines[("other table", "witness")] == 21


def test_secrets_come_from_the_environment_or_files_it_names(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    code, out, _ = run_cli("config", "keys", str(secrets_dir))
    assert code == 0
    files = dict(line.split("=", 1) for line in out.splitlines())
    assert set(files) == {f"ACCESSGUARD_{n}_FILE" for n in ("SESSION_KEY", "PSEUDONYM_KEY", "ENCRYPTION_KEY", "AUDIT_KEY")}
    assert all(Path(f).stat().st_mode & 0o777 == 0o600 for f in files.values())
    (tmp_path / "own_audit_key").write_text(AUDIT_KEY + "\r\n")
    path = config(tmp_path, '[audit]\nkey_file = "own_audit_key"')
    environ = {"ACCESSGUARD_SESSION_KEY": SESSION_KEY, **{k: v for k, v in files.items() if "SESSION" not in k and "AUDIT" not in k}}
    loaded = load(path, environ)
    assert loaded.settings.session_key == SESSION_KEY  # the variable
    encryption_key = Path(files["ACCESSGUARD_ENCRYPTION_KEY_FILE"]).read_text()
    assert encryption_key.endswith("\n") and loaded.settings.encryption_key == encryption_key.strip()  # the file it names, newline cut
    assert loaded.settings.audit.key == AUDIT_KEY  # the configuration's key_file, relative to the file
    assert loaded.secret_sources["audit.key"] == f"key_file ({tmp_path / 'own_audit_key'})"
    overridden = load(path, {**environ, "ACCESSGUARD_AUDIT_KEY_FILE": files["ACCESSGUARD_AUDIT_KEY_FILE"]})
    assert overridden.settings.audit.key == (secrets_dir / "audit_key").read_text().strip() != AUDIT_KEY  # the environment wins
    code, _, err = run_cli("config", "keys", str(secrets_dir))
    assert code == 2 and "already exist" in err  # never replaced


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"ACCESSGUARD_SESSION_KEY": SESSION_KEY, "ACCESSGUARD_SESSION_KEY_FILE": "/x"}, "both ACCESSGUARD_SESSION_KEY and"),
        (
            {"ACCESSGUARD_SESSION_KEY": "", "ACCESSGUARD_SESSION_KEY_FILE": "/nonexistent/session_key"},
            "ACCESSGUARD_SESSION_KEY_FILE: '/nonexistent/session_key' is unreadable",
        ),
        ({"ACCESSGUARD_SESSION_KEY": "short"}, "must be at least 32 characters"),
        ({"ACCESSGUARD_SESSION_KEY": ""}, "missing; set ACCESSGUARD_SESSION_KEY"),
    ],
)
def test_a_bad_secret_is_refused_naming_its_key(tmp_path: Path, environ: dict[str, str], fragment: str) -> None:
    path = config(tmp_path, "")
    with pytest.raises(ConfigFileError) as refused:
        load(path, {**SECRETS, **environ})
    problems = [f"{p.key}: {p.message}" for p in refused.value.problems]
    assert any(p.startswith("session_key: ") and fragment in p for p in problems), problems


def test_a_secret_of_a_table_the_file_leaves_out(tmp_path: Path) -> None:
    """[audit] left out: its key still comes from the environment; [oidc] left out: its secret set is a mistake named."""
    path = config(tmp_path, "")
    assert load(path, {**SECRETS, "ACCESSGUARD_AUDIT_KEY": AUDIT_KEY}).settings.audit.key == AUDIT_KEY
    with pytest.raises(ConfigFileError) as refused:
        load(path, {**SECRETS, "ACCESSGUARD_OIDC_CLIENT_SECRET_FILE": "/run/secrets/oidc"})
    assert str(refused.value) == f"{path}:-: oidc: ACCESSGUARD_OIDC_CLIENT_SECRET_FILE set, but the file has no [oidc] table"


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    path = config(tmp_path, "")
    with pytest.raises(ConfigFileError, match=r"session_key: ACCESSGUARD_SESSION_KEY_FILE: '.*empty' is empty"):
        load(path, {**SECRETS, "ACCESSGUARD_SESSION_KEY": "", "ACCESSGUARD_SESSION_KEY_FILE": str(tmp_path / "empty")})


def test_config_check_prints_the_effective_configuration_without_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ACCESSGUARD_STORE_URL", "redis://:hunter2-redis@127.0.0.1:6379/0")
    (tmp_path / "audit_key").write_text(AUDIT_KEY + "\n")
    path = config(tmp_path, 'database = "postgresql://ag:hunter2-pg@db.internal/ag"\n[audit]\nkey_file = "audit_key"')
    code, out, err = run_cli("config", "check", str(path))
    assert code == 0, err
    for secret in (SESSION_KEY, PSEUDONYM_KEY, ENCRYPTION_KEY, AUDIT_KEY, "hunter2"):
        assert secret not in out
    effective = tomllib.loads(out)  # the output is TOML again: it can be kept and compared
    assert effective["store_url"] == "redis://:***@127.0.0.1:6379/0" and "# store_url: from ACCESSGUARD_STORE_URL" in out
    assert effective["database"] == "postgresql://ag:***@db.internal/ag"
    assert effective["data_dir"] == str(tmp_path / "data") and effective["session_ttl_s"] == 12 * 3600  # paths resolved, defaults shown
    assert effective["webauthn_rp_id"] == "annuaire.example.fr" and effective["webauthn_origins"] == ["https://annuaire.example.fr"]
    assert "# session_key = (secret, from ACCESSGUARD_SESSION_KEY)" in out
    assert f"# key = (secret, from key_file ({tmp_path / 'audit_key'}))" in out
    assert effective["routes"][0] | {"served_ids": "id"} == effective["routes"][0] and effective["routes"][0]["methods"] == ["GET"]


def test_settings_from_file_is_what_the_guard_runs_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = config(tmp_path, 'trusted_proxies = ["10.0.0.0/8"]\nsession_ttl_s = 600\n[audit]\ncommit_window_s = 0')
    settings = Settings.from_file(path)
    assert settings.data_dir == tmp_path / "data" and settings.session_ttl_s == 600 and settings.trusted_proxies == ("10.0.0.0/8",)
    assert settings.session_key == SESSION_KEY and settings.audit.commit_window_s == 0.0
    assert settings.routes[0].match("/patients/pat-0001") == {"id": "pat-0001"}


def test_every_setting_is_a_documented_key() -> None:
    """A field added to Settings (or to a table it holds) without a line in DOCS fails here, and so does a stale line."""
    keys = {key.name for key in all_keys()}
    for key in all_keys():
        try:
            type_name(key.hint)
        except KeyError:
            pytest.fail(f"{key.name}: a type the file cannot hold ({key.hint}); list it in CODE_ONLY or teach the schema")
    undocumented = sorted(name for name in keys if not DOCS.get(name))
    assert not undocumented, f"document these keys in accessguard/config/schema.py DOCS: {undocumented}"
    assert not sorted(set(DOCS) - keys), "DOCS names keys that no longer exist"
    fields = {f"{table}.{name}" if table else name for table, cls in TABLES.items() for name in cls.__dataclass_fields__}
    computed = {f"routes.{f.name}" for f in dataclasses.fields(ProtectedRoute) if not f.init}
    assert fields - keys == CODE_ONLY | computed  # every other field is a key of the file


def test_the_reference_is_the_one_the_code_generates() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert BEGIN in text and END in text
    assert text == rewritten(text), "regenerate it: python -m accessguard.config.reference docs/configuration.md"


def test_the_examples_pass_config_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The production example, its data directory moved into a temporary one (the test cannot write /var/lib), and the demo's."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ACCESSGUARD_AUDIT_KEY", AUDIT_KEY)
    text = (ROOT / "examples" / "accessguard.toml").read_text()
    (tmp_path / "lib").mkdir()
    moved = text.replace('"/var/lib/accessguard"', json.dumps(str(tmp_path / "lib")))
    assert moved != text
    path = tmp_path / "accessguard.toml"
    path.write_text(moved)
    code, out, err = run_cli("config", "check", str(path))
    assert code == 0, err
    assert tomllib.loads(out)["audit"]["witness"] == "/var/log/accessguard-witness/audit-witness.jsonl"
    demo = load(ROOT / "examples" / "demo.toml", {}, replace={"data_dir": str(tmp_path / "lib")}, fallback_secrets=demo_keys)
    assert demo.settings.geoip_database == DEMO_DATABASE and demo.secret_sources["session_key"] == "the data directory's keys.json"


@pytest.mark.slow
def test_the_demo_runs_from_a_configuration_file(demo_template: Path, tmp_path: Path) -> None:
    """The core scenario through `accessguard demo --config examples/demo.toml`: log in, challenged, TOTP, read, bulk limit."""
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.bernard")
    log = tmp_path / "demo.log"
    with demo_process(data_dir, log, "--config", str(ROOT / "examples" / "demo.toml")) as (url, _), httpx.Client(base_url=url) as client:
        assert re.match(r"accessguard demo: http://localhost:8000 ", log.read_text())
        assert client.get("/patients/pat-0001", headers={"accept": "application/json"}).status_code == 401
        assert client.post("/login", json={"username": "dr.bernard", "password": account["password"]}).status_code == 200
        challenged = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
        assert challenged.status_code == 401 and challenged.json()["reasons"] == ["mfa_required"]
        assert client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(account["totp_secret"]).now()}).status_code == 200
        assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 200
        for offset in range(0, 1000, 20):
            page = client.get("/patients", params={"limit": 20, "offset": offset}, headers={"x-forwarded-for": CAEN})
            if page.status_code != 200:
                break
        assert page.status_code == 401 and page.json()["reasons"] == ["bulk_read_soft_limit"]


def test_the_demo_refuses_options_the_file_holds(tmp_path: Path) -> None:
    code, _, err = run_cli("demo", "--config", str(ROOT / "examples" / "demo.toml"), "--store", "redis://x")
    assert code == 2 and "--store: with --config, set this in the configuration file" in err


_ANY_TEXT = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
_KEY = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True) | st.text(_ANY_TEXT, max_size=6)
_BAIT = st.sampled_from(["x = 1", "[[routes]]", "# c", '"""', "'''", '\\"', "a.b = [", "}", "]"])


@st.composite
def _documents(draw: st.DrawFn) -> tuple[str, dict[tuple[str | int, ...], int]]:
    """A TOML text with values that look like keys, headers and comments, and the line each key is on."""
    out: list[str] = []
    expected: dict[tuple[str | int, ...], int] = {}

    def key_text(key: str) -> str:
        return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)

    def value() -> str:
        bait = draw(st.lists(_BAIT, max_size=3))
        kind = draw(st.sampled_from(["basic", "multi", "literal", "array", "number"]))
        if kind == "basic":
            return json.dumps(" ".join(bait))
        if kind == "multi":
            return '"""\n' + "\n".join(b.replace("\\", "\\\\").replace('"', "'") for b in bait) + '\n"""'
        if kind == "literal":
            return "'''\n" + "\n".join(b.replace("'", '"') for b in bait) + "\n'''"
        if kind == "array" and bait:
            return "[\n  " + ",\n  ".join(json.dumps(b) for b in bait) + ",\n]"
        return str(draw(st.integers(-5, 5)))

    def table(prefix: tuple[str | int, ...]) -> None:
        for key in draw(st.lists(_KEY, max_size=4, unique=True)):
            expected[(*prefix, key)] = len(out) + 1
            out.extend(f"{key_text(key)} = {value()}  # {draw(_BAIT)}".splitlines())

    table(())
    for index in range(draw(st.integers(0, 3))):
        out.append("[[routes]]")
        table(("routes", index))
    return "\n".join(out) + "\n", expected


@budget(200)
@given(_documents())
def test_each_key_is_found_on_its_line(document: tuple[str, dict[tuple[str | int, ...], int]]) -> None:
    text, expected = document
    tomllib.loads(text)  # the generator writes valid TOML
    lines = key_lines(text)
    assert {path: lines.get(path) for path in expected} == expected


_SCALARS = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
    | st.sampled_from(["/", "/p/{id}", "id", "10.0.0.0/8", "https://idp.example", "wasm", "data", "::1/128", "GET"])
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.booleans()
)


def _values(table: str) -> st.SearchStrategy[Any]:
    """Documents for ``table``: its keys (and one unknown), with values of any type at any depth, nested tables alike."""
    keys = keys_of(table)
    nested = {"audit": "audit", "oidc": "oidc", "claims": "oidc.claims"}
    leaf = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2))
    optional: dict[str, st.SearchStrategy[Any]] = {name: leaf for name in keys if name not in nested and name != "routes"}
    optional |= {name: _values(sub) | leaf for name, sub in nested.items() if name in keys}
    if "routes" in keys:
        optional["routes"] = st.lists(_values("routes"), max_size=2) | leaf
    return st.fixed_dictionaries({}, optional={**optional, "mistake": leaf})


#: A valid document, which the drawn keys replace.
_VALID: dict[str, Any] = {
    "data_dir": "data",
    "public_url": "https://annuaire.example.fr",
    "routes": [{"pattern": "/patients/{id}", "name": "patients.read", "served_ids": "id"}],
}


@budget(150)
@given(_values(""), st.integers(0, 3), st.sampled_from([{}, SECRETS]), st.booleans())
def test_any_file_is_loaded_or_refused_by_key_never_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, drawn: dict[str, Any], replaced: int, environ: dict[str, str], demo: bool
) -> None:
    """Any document over the keys (the demo's keys.json filling the secrets, or not): loaded, or refused by key and line."""
    directory = tmp_path_factory.mktemp("config")
    (directory / "data").mkdir()
    document = _VALID | dict(list(drawn.items())[:replaced])
    lines = [f"{key} = {toml_value(value)}" for key, value in document.items()]
    path = directory / "accessguard.toml"
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())
    try:
        loaded = load(path, environ, fallback_secrets=demo_keys if demo else None)
    except ConfigFileError as refused:
        event("refused")
        assert refused.problems and all(p.key and p.message for p in refused.problems)
        assert all(p.line is None or 1 <= p.line <= len(lines) for p in refused.problems)
    else:
        event("loaded")
        assert tomllib.loads(effective_toml(loaded.settings, loaded.secret_sources))  # what config check prints parses again
