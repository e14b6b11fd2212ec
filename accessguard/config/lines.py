"""Where each key of a TOML document is written: ``tomllib`` parses values but keeps no positions.

The text has already parsed (``tomllib``), so this scanner follows TOML's
structure without checking it: table headers (``[a.b]``, ``[[routes]]``),
dotted and quoted keys, inline tables and arrays, and strings of all four
kinds, so that a ``key = value`` inside a multi-line string or a comment is
never taken for a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: A key's path: table and key names, with the index of an array element or of an ``[[array]]`` table.
KeyPath = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = {'"': '"', "\\": "\\", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r"}


@dataclass
class _Scanner:
    text: str
    at: int = 0
    lines: dict[KeyPath, int] = field(default_factory=dict)
    tables: dict[KeyPath, int] = field(default_factory=dict)  # [[array]] tables seen so far, by resolved path

    def line(self) -> int:
        return self.text.count("\n", 0, self.at) + 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.at : self.at + n]

    def skip_blank(self, newlines: bool) -> None:
        """Spaces, tabs, comments and, when ``newlines``, line ends."""
        while self.at < len(self.text):
            char = self.text[self.at]
            if char in " \t" or (newlines and char in "\r\n"):
                self.at += 1
            elif char == "#":
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            else:
                return

    def document(self) -> dict[KeyPath, int]:
        prefix: KeyPath = ()
        while True:
            self.skip_blank(newlines=True)
            if self.at >= len(self.text):
                return self.lines
            line = self.line()
            if self.peek(2) == "[[":
                self.at += 2
                *parents, name = self.key()
                path = (*self.resolve(tuple(parents)), name)
                self.at = self.text.index("]]", self.at) + 2
                index = self.tables.get(path, -1) + 1
                self.tables[path] = index
                prefix = (*path, index)
                self.lines.setdefault(path, line)
                self.lines[prefix] = line
            elif self.peek() == "[":
                self.at += 1
                prefix = self.resolve(self.key())
                self.at = self.text.index("]", self.at) + 1
                self.lines.setdefault(prefix, line)
            else:
                self.key_value(prefix)

    def resolve(self, keys: tuple[str, ...]) -> KeyPath:
        """A header's path, through the latest table of each ``[[array]]`` it names."""
        path: KeyPath = ()
        for key in keys:
            path = (*path, key)
            if path in self.tables:
                path = (*path, self.tables[path])
        return path

    def key(self) -> tuple[str, ...]:
        """A dotted key such as ``audit.key`` or ``"a b".c``."""
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            if self.peek() in ('"', "'"):
                parts.append(self.string())
            else:
                start = self.at
                while self.at < len(self.text) and self.text[self.at] in _BARE:
                    self.at += 1
                parts.append(self.text[start : self.at])
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return tuple(parts)
            self.at += 1

    def key_value(self, prefix: KeyPath) -> None:
        line = self.line()
        path = (*prefix, *self.key())
        for depth in range(len(prefix) + 1, len(path) + 1):  # a dotted key writes its tables too
            self.lines.setdefault(path[:depth], line)
        self.at = self.text.index("=", self.at) + 1
        self.skip_blank(newlines=False)
        self.value(path)

    def value(self, path: KeyPath) -> None:
        self.lines.setdefault(path, self.line())
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "{":
            self.at += 1
            while True:
                self.skip_blank(newlines=False)
                if self.peek() == "}":
                    self.at += 1
                    return
                self.key_value(path)
                self.skip_blank(newlines=False)
                if self.peek() == ",":
                    self.at += 1
        elif char == "[":
            self.at += 1
            index = 0
            while True:
                self.skip_blank(newlines=True)
                if self.peek() == "]":
                    self.at += 1
                    return
                self.value((*path, index))
                index += 1
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.at += 1
        else:  # a number, boolean or date: up to the next delimiter
            while self.at < len(self.text) and self.text[self.at] not in ",]}#\r\n":
                self.at += 1

    def string(self) -> str:
        """Any of TOML's four strings; returns its text (escapes decoded enough to compare key names)."""
        quote = self.peek()
        if self.peek(3) == quote * 3:
            self.at += 3
            end = self.text.index(quote * 3, self.at)
            while quote == '"' and self._escaped(end):
                end = self.text.index(quote * 3, end + 1)
            while self.text[end + 3 : end + 4] == quote:  # up to two quotes may close the content
                end += 1
            content, self.at = self.text[self.at : end], end + 3
            return content
        self.at += 1
        out: list[str] = []
        while self.text[self.at] != quote:
            if quote == '"' and self.text[self.at] == "\\":
                escape = self.text[self.at + 1]
                if escape in "uU":
                    width = 4 if escape == "u" else 8
                    out.append(chr(int(self.text[self.at + 2 : self.at + 2 + width], 16)))
                    self.at += 2 + width
                    continue
                out.append(_ESCAPES.get(escape, escape))
                self.at += 2
                continue
            out.append(self.text[self.at])
            self.at += 1
        self.at += 1
        return "".join(out)

    def _escaped(self, index: int) -> bool:
        """Whether the quote at ``index`` is escaped: an odd run of backslashes ends before it."""
        run = 0
        while self.text[index - 1 - run] == "\\":
            run += 1
        return run % 2 == 1


def key_lines(text: str) -> dict[KeyPath, int]:
    """The line (from 1) where each key, table and array element of a valid TOML text is written."""
    return _Scanner(text).document()


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, else of its nearest written ancestor (a key missing from its table: the table's)."""
    for depth in range(len(path), 0, -1):
        if path[:depth] in lines:
            return lines[path[:depth]]
    return None
