"""Thin adapters: turn a request into RequestFacts, ask the Guard, send one response."""
