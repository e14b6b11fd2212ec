"""Minimal patient directories, one per framework, each behind accessguard (docs/integrations.md)."""
