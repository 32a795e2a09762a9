"""Running a plan's tasks: the run loop, the attempts, and where they run (backends)."""
