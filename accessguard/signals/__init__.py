"""Signals: facts about a request the policy decides on (geo, velocity, usage)."""
