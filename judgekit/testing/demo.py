"""``make demo``: start the stand-in judge server, score the bundled dataset, report agreement,
write the HTML report.

The fake provider is a stand-in for a real model (token overlap, not
judgement); it makes the whole pipeline runnable offline.  The commands run
are exactly what a user types, through the installed ``judgekit`` executable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from judgekit.testing.fake_provider import FakeProvider

DATASET = "datasets/demo.jsonl"
CONFIG = "configs/demo.toml"
OUTPUT = "out/demo.parquet"
CACHE = "out/demo-cache.sqlite3"
REPORT = "out/report.html"


def _judgekit() -> str:
    """The installed executable next to this interpreter (the virtualenv's)."""
    local = Path(sys.executable).with_name("judgekit")
    return str(local) if local.exists() else (shutil.which("judgekit") or "judgekit")


def _run(args: list[str], env: dict[str, str]) -> int:
    print("$ judgekit " + " ".join(args), flush=True)
    return subprocess.call([_judgekit(), *args], env=env)


def main() -> int:
    """Run the demo; the exit code is the first failing command's."""
    Path("out").mkdir(exist_ok=True)
    with FakeProvider() as fake:
        env = dict(os.environ, JUDGEKIT_FAKE_URL=fake.url)
        code = _run(["score", DATASET, "-c", CONFIG, "-o", OUTPUT, "--cache", CACHE], env)
        if code:
            return code
        print(flush=True)
        code = _run(["agreement", OUTPUT, "-c", CONFIG], env)
        if code:
            return code
        print(flush=True)
        return _run(["report", OUTPUT, "-c", CONFIG, "-o", REPORT], env)


if __name__ == "__main__":
    sys.exit(main())
