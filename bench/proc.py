"""Process facts from /proc: a process tree, its CPU ticks and its memory (Linux only)."""

from __future__ import annotations

import os


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return found


def tree(root: int) -> list[int]:
    """`root` and every live descendant."""
    found = [root]
    index = 0
    while index < len(found):
        found += children(found[index])
        index += 1
    return found


def cpu_ticks(pid: int, *, reaped: bool = False) -> int:
    """utime + stime of `pid`; with `reaped`, also of the children it has already waited for."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            text = f.read()
    except OSError:
        return 0
    # The command name may hold spaces: fields are counted after its closing parenthesis.
    fields = text[text.rindex(")") + 2 :].split()
    # utime stime cutime cstime are fields 14 to 17.
    return sum(int(v) for v in fields[11 : 15 if reaped else 13])


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
