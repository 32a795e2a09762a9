"""A scripted agent that reads what its dependencies wrote and summarises it."""

import pathlib

parts = [pathlib.Path(name).read_text().strip() for name in ("api.txt", "web.txt")]
pathlib.Path("summary.txt").write_text(" + ".join(parts) + "\n")
print("summary:", " + ".join(parts))
