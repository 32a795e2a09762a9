"""The landing room: conflicts between branches, the merge queue, where work lands, rollback."""
