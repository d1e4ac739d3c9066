"""What /proc says about the server's processes and sockets (Linux only; no psutil, which only bench
installs)."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator
from pathlib import Path


def _live_processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the command name) of every live (non-zombie) process."""
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat_path).read_text()
            # The command name, in parentheses, may itself contain spaces and parentheses.
            fields = text[text.rindex(")") + 2 :].split()
            if fields[0] not in ("Z", "X"):
                yield int(Path(stat_path).parent.name), fields


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    return [pid for pid, fields in _live_processes() if int(fields[2]) == pgid]


def children_of(pid: int) -> list[int]:
    """Live (non-zombie) direct children of a process."""
    return [child for child, fields in _live_processes() if int(fields[1]) == pid]


def established_connections(pid: int, port: int) -> int:
    """How many ESTABLISHED TCP connections on local `port` process `pid` holds."""
    inodes = set()
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 once it is gone)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
