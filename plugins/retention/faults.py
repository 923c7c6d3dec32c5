"""Named points where tests inject a crash, to prove that every destructive step is resumable.

Inert unless ``RETENTION_FAULT_POINT`` names the point; ``RETENTION_FAULT_ACTION`` is ``raise``
(default: an exception, like a lost connection) or ``kill`` (SIGKILL of the worker process).
"""

from __future__ import annotations

import os
import signal


class InjectedFault(RuntimeError):
    """Raised at an armed fault point."""


def checkpoint(name: str) -> None:
    if os.environ.get("RETENTION_FAULT_POINT") != name:
        return
    if os.environ.get("RETENTION_FAULT_ACTION", "raise") == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"fault injected at {name}")
