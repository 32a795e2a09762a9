"""What an agent spent: tokens, cost, turns and model, read from its own output while it runs.

Each preset turns on its agent's machine-readable output and has a parser here (formats.py);
any agent or command may also write `$GENESIS_USAGE_FILE` (meter.py). The log always keeps the
output as the agent wrote it: usage is read beside it, never instead of it.
"""

from __future__ import annotations

from genesis_par.usage.model import Usage, total

__all__ = ["Usage", "total"]
