"""The demo: a regional patient directory protected by accessguard."""
