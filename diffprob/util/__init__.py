"""Helpers that both halves and the command line share."""
