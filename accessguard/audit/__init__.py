"""Audit: the decision log and pseudonymisation of patient identifiers."""
