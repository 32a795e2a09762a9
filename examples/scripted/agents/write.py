"""A scripted agent: writes the text it is given into a file of the worktree, after a pause."""

import pathlib
import sys
import time

path, text = sys.argv[1], sys.argv[2]
time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 1.0)
target = pathlib.Path(path)
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(text + "\n")
print(f"wrote {path}")
