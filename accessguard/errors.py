"""Exception classes. Every message says what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Callable


class AccessGuardError(Exception):
    """Base class of every error accessguard raises."""


class ConfigurationError(AccessGuardError):
    """A setting is missing or invalid; raised when the Guard is built."""


class PolicyCompileError(AccessGuardError):
    """A policy set does not parse or compile.

    ``errors`` lists ``file.rego:line:col: message`` strings.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("policy set does not compile:\n" + "\n".join(errors))


class PolicyEvaluationError(AccessGuardError):
    """The engine could not evaluate an input; the caller fails closed."""


class StoreError(AccessGuardError):
    """The state store failed; the caller fails closed."""


class HookError(AccessGuardError):
    """An application hook failed or answered something unexpected; the caller fails closed."""


class Phrase:
    """English text with ``{name}`` fields and their values kept apart, so that the text is translated before it is filled.

    A value may itself be a ``Phrase`` (translated too); ``str()`` is the English text.
    """

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values

    def __str__(self) -> str:
        return self.explained(str)

    def explained(self, gettext: Callable[[str], str]) -> str:
        """The text in a language: its template translated, then filled."""
        translated = gettext(self.template)
        if not self.values:
            return translated
        return translated.format(**{k: v.explained(gettext) if isinstance(v, Phrase) else v for k, v in self.values.items()})


class BadRequest(AccessGuardError):
    """Input from outside is malformed; answered with a 4xx.

    ``detail`` is English with ``{name}`` fields filled from ``values`` (a ``Phrase``): the template, not the filled
    text, is what the catalogue translates (``explained``), so a detail naming a field or a count reads in French too.
    """

    def __init__(self, detail: str | Phrase, status: int = 400, **values: object) -> None:
        self.phrase = detail if isinstance(detail, Phrase) else Phrase(detail, **values)
        self.detail = str(self.phrase)
        self.status = status
        super().__init__(self.detail)

    def explained(self, gettext: Callable[[str], str]) -> str:
        """The detail in a language."""
        return self.phrase.explained(gettext)


class InvalidSession(BadRequest):
    """A session cookie that opens no live session (forged, unknown, expired or revoked); answered with a 401."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, status=401)


class Refused(BadRequest):
    """A well-formed request refused for a stated reason; ``reason`` is a stable code.

    ``headers`` go with the answer (``Retry-After`` for a lock-out).
    """

    def __init__(self, reason: str, detail: str, status: int = 403, headers: list[tuple[str, str]] | None = None, **values: object) -> None:
        super().__init__(detail, status, **values)
        self.reason = reason
        self.headers = headers or []
