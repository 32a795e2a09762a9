"""Landing: the merge queue, its strategies for conflicts, rollback."""
