"""Processes and their descendants, read from /proc (Linux): peak memory of a component, free ports."""

from __future__ import annotations

import os
import socket


def vm_hwm_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM), 0 when it has exited."""
    return _status_kb(pid, "VmHWM:")


def vm_rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmRSS:")


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):  # exited between the poll and the read
        pass
    return 0


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # exited while listed
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def tree_hwm_kb(root: int) -> int:
    """The largest VmHWM among ``root`` and its descendants (e.g. an executor's task processes)."""
    return max((vm_hwm_kb(pid) for pid in descendants(root)), default=0)


def tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and its descendants together, now."""
    return sum(vm_rss_kb(pid) for pid in descendants(root))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
