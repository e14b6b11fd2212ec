"""Audit: the hash-chained access log, breach scope, alerts, break-the-glass reviews, pseudonyms."""
