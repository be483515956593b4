"""STAND-IN clock for one process: runs a Python program with time.time() moved to a given
moment (and running on from there), so a test can let a month roll over.

    python clock.py "2026-10-31 23:59:30" PROGRAM.py [ARGS...]

The program's own clocks that matter here read time.time(); its timeouts (asyncio's loop
time, the monotonic clock) are untouched.
"""

import runpy
import sys
import time
from datetime import UTC, datetime

start = datetime.strptime(sys.argv[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
offset = start - time.time()
real_time = time.time
time.time = lambda: real_time() + offset
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
