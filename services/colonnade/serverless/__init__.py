"""Colonnade on AWS Lambda: API Gateway proxy events served by the gateway's pipeline with
the servicers called in process (function.py, inprocess.py, events.py).

Handler: ``colonnade.serverless.handler`` (REST API payload 1.0 and HTTP API payload 2.0
events, and EventBridge schedules for the periodic work). The execution environment's
state lives in :data:`function`: created at import, connected at the first event, reused by
every warm invocation.

SnapStart (Python 3.12+): when the runtime's ``snapshot_restore_py`` is importable, an
after-restore hook drops the connections a snapshot may have captured, so the first event
after a restore connects again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from colonnade.serverless.function import Function

#: The execution environment's function state (one per process).
function = Function()


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point: ``colonnade.serverless.handler``."""
    return function(event, context)


def _after_restore() -> None:
    function.reset()


try:  # present in the Python 3.12+ managed runtimes, where SnapStart exists
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
except ImportError:
    pass
else:  # pragma: no cover - only on Lambda
    register_after_restore(_after_restore)
