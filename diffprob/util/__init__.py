"""Helpers that both halves and the command line share: input checks (validation), seeds,
size limits, where the shipped files live (paths), loading .pt files safely (safe_load) and
JSON conversion (jsonable)."""
