"""The run room: the executor, the pure scheduler, attempts and best_of candidates."""
