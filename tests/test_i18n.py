"""French and English: the language chosen from Accept-Language, a complete catalogue, times in the configured zone."""

from __future__ import annotations

import re

import pytest

from accessguard.errors import ConfigurationError
from accessguard.i18n import Languages
from accessguard.i18n.catalogue import problems
from tests.conftest import Demo

HTML = {"accept": "text/html"}


@pytest.mark.parametrize(
    ("header", "chosen"),
    [("fr", "fr"), ("en", "en"), ("fr-CA", "fr"), ("de", "en"), (None, "en"), ("de, fr-CA;q=0.5, en;q=0.4", "fr"), ("fr;q=0, en", "en")],
)
def test_the_language_is_the_best_match_of_accept_language_else_the_default(header: str | None, chosen: str) -> None:
    assert Languages("en", "UTC").of(header).code == chosen
    assert Languages("fr", "UTC").of(header).code == ("fr" if header in ("de", None) else chosen)


def test_a_bad_default_or_time_zone_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="default_locale"):
        Languages("de", "UTC")
    with pytest.raises(ConfigurationError, match="time_zone"):
        Languages("en", "Europe/Nowhere")


def test_every_marked_message_has_a_french_translation_with_its_placeholders() -> None:
    assert problems() == []  # python -m accessguard.i18n brings the catalogue in step


def test_times_are_shown_in_the_configured_zone() -> None:
    assert Languages("fr", "Europe/Paris").of(None).when(1765000000) == "2025-12-06 06:46 +0100"
    assert Languages("en", "UTC").of(None).when(1765000000) == "2025-12-06 05:46 UTC"


def test_the_demo_answers_in_french_by_default_and_in_english_when_asked(asgi_demo: Demo) -> None:
    client = asgi_demo.client()
    french = client.get("/login", headers={**HTML, "accept-language": "fr-FR"})
    assert '<html lang="fr">' in french.text and "Se connecter" in french.text
    english = client.get("/login", headers={**HTML, "accept-language": "en"})
    assert '<html lang="en">' in english.text and "Log in" in english.text


def test_a_refusal_keeps_its_reason_code_and_explains_it_in_french(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin", totp=False)
    refused = client.post("/accessguard/step-up/totp", json={"code": "000000"}, headers={"accept-language": "fr"})
    assert refused.status_code == 401
    assert refused.json()["reasons"] == ["invalid_code"]
    assert refused.json()["detail"] == "le code est faux, expiré ou déjà utilisé"


def test_the_account_page_in_french_shows_times_in_paris(asgi_demo: Demo) -> None:
    client = asgi_demo.login("inf.dubois")
    page = client.get("/accessguard/account", headers={**HTML, "accept-language": "fr"})
    assert "Vos authentificateurs" in page.text and "application d\u2019authentification" in page.text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d \+0[12]00", page.text)


def test_a_detail_that_names_a_value_is_translated_with_the_value_in_it(asgi_demo: Demo) -> None:
    client = asgi_demo.login("dr.martin")
    french = client.get("/patients?limit=abc", headers={"accept-language": "fr"})
    assert french.status_code == 400
    assert french.json()["detail"] == "le paramètre 'limit' doit être un entier positif ou nul, reçu 'abc'"
    english = client.get("/patients?limit=abc", headers={"accept-language": "en"})
    assert english.json()["detail"] == "query parameter 'limit' must be a non-negative integer, got 'abc'"
    headers = {"accept-language": "fr", "content-type": "application/json"}
    short = client.post("/accessguard/emergency", content=b'{"patient": "pat-0001", "reason": "a"}', headers=headers)
    assert short.status_code == 400 and "au moins" in short.json()["detail"], short.json()
    nul = client.post("/accessguard/emergency", content=b'{"patient": "pat\\u0000", "reason": "a"}', headers=headers)
    assert nul.json()["detail"] == "le champ 'patient' doit être du texte : il contient un caractère NUL"


def test_a_failed_login_and_a_lock_out_read_in_french(asgi_demo: Demo) -> None:
    client = asgi_demo.client()
    french = {"accept-language": "fr"}
    failed = client.post("/login", json={"username": "dr.martin", "password": "not the password"}, headers=french)
    assert failed.status_code == 401 and failed.json()["detail"] == "identifiant ou mot de passe incorrect"
    for _ in range(10):
        locked = client.post("/login", json={"username": "dr.martin", "password": "not the password"}, headers=french)
        if locked.status_code == 429:
            break
    assert locked.status_code == 429 and locked.json()["reasons"] == ["login_attempts_locked"]
    assert locked.json()["detail"].startswith("trop de connexions échouées") and "réessayez dans" in locked.json()["detail"]


def test_the_demo_landing_page_in_french_and_english(asgi_demo: Demo) -> None:
    client = asgi_demo.client()
    french = client.get("/", headers={**HTML, "accept-language": "fr"})
    assert '<html lang="fr">' in french.text and "Essayer le scénario" in french.text and french.headers["vary"] == "accept-language"
    english = client.get("/", headers={**HTML, "accept-language": "en"})
    assert '<html lang="en">' in english.text and "Try the scenario" in english.text
