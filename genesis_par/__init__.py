"""genesis-par: run many coding agents in parallel on one git repository."""

__version__ = "0.1.0"
