"""Bringing work home: the merge queue and its strategies."""
