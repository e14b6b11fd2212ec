"""Glue for frameworks whose configuration lives in their own settings (Django)."""
