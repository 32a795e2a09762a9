"""A scripted agent that fails its first attempt and succeeds on the next one.

It counts its attempts in a file of the git common dir, which no attempt's reset removes.
"""

import os
import pathlib
import subprocess

common = subprocess.run(
    ["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True, check=True
).stdout.strip()
counter = pathlib.Path(common) / "genesis-par" / f"flaky-{os.environ['GENESIS_RUN']}"
attempt = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(attempt))
if attempt == 1:
    raise SystemExit("flaky: failing on purpose the first time")
pathlib.Path("flaky.txt").write_text("made it on attempt 2\n")
print("flaky: succeeded")
