"""Coverage-guided fuzzing (atheris) of the parsers that take bytes from outside.

Each target in ``targets.py`` feeds one input to a parser the guard runs on a
request. The project's refusal (``BadRequest`` and its subclasses: a 4xx) is the
expected answer to bad input; any other exception, or a broken promise checked
by the target, is a crash. ``python -m fuzz --help`` runs them.
"""
