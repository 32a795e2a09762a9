"""Running a plan: the run loop, the scheduler, each task's attempts and their steps."""
