"""`livewatch` whose full scans wait at a gate the test opens: a large tree's slow scan, on a
small tree, so a test can act while a scan really is in progress.

Each full scan (in the scan processes too, which are forks of this one) counts itself in
`$SCAN_GATE.begun` and waits until `$SCAN_GATE` holds a number at least its own. The event
path's reads of single workflows do not wait.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from livewatch import cli
from livewatch.sources import workflows

SCAN = workflows.scan_records
GIVE_UP_S = 60.0  # a test that never opens the gate must not hang its server for ever


def gated_scan_records(agents_dir: Path, **options: Any) -> list[dict[str, Any]]:
    gate = Path(os.environ["SCAN_GATE"])
    with open(f"{gate}.begun", "a") as begun:  # one line per scan, appended atomically
        begun.write("scan\n")
    ordinal = len(Path(f"{gate}.begun").read_text().splitlines())
    deadline = time.monotonic() + GIVE_UP_S
    while int(gate.read_text() or 0) < ordinal and time.monotonic() < deadline:
        time.sleep(0.02)
    return SCAN(agents_dir, **options)


if __name__ == "__main__":
    workflows.scan_records = gated_scan_records
    cli.main(sys.argv[1:])
