"""Run the database bootstrap (``colonnade-migrate``) as an ECS one-shot task and wait for it.

``scripts/deploy.py <env> apply`` calls :func:`run_migration` between the apply that registers
the ``migrate`` task definition and the apply that rolls the services, with the live root's
``migrate_task`` output (cluster, task definition, subnets, security group) and a boto3 ECS
client. The task runs on Fargate in the private subnets, and the deploy goes on only if its
container exited 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Fargate platform version of the task (the same the services use).
PLATFORM_VERSION = "1.4.0"


class MigrationFailed(RuntimeError):
    """The bootstrap task did not start, did not stop in time, or exited non-zero."""


@dataclass(frozen=True)
class MigrateTask:
    """What ``ecs run-task`` needs, from the live root's ``migrate_task`` output."""

    cluster: str
    task_definition_arn: str
    container_name: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    log_group: str
    log_stream_prefix: str

    @classmethod
    def from_output(cls, value: Mapping[str, Any]) -> MigrateTask:
        """Build from ``terraform output -json migrate_task`` (its ``value``)."""
        try:
            return cls(
                cluster=str(value["cluster"]),
                task_definition_arn=str(value["task_definition_arn"]),
                container_name=str(value["container_name"]),
                subnets=tuple(str(s) for s in value["subnets"]),
                security_groups=tuple(str(s) for s in value["security_groups"]),
                log_group=str(value["log_group"]),
                log_stream_prefix=str(value["log_stream_prefix"]),
            )
        except (KeyError, TypeError) as exc:
            raise MigrationFailed(f"the migrate_task output lacks {exc}: {dict(value)!r}") from exc

    @property
    def region(self) -> str:
        """The Region of the cluster (from its ARN)."""
        return self.cluster.split(":")[3]

    def log_stream(self, task_arn: str) -> str:
        """The awslogs stream of the task's container: ``<prefix>/<container>/<task id>``."""
        return f"{self.log_stream_prefix}/{self.container_name}/{task_arn.rsplit('/', 1)[-1]}"


@dataclass(frozen=True)
class Outcome:
    """A bootstrap run that exited 0."""

    task_arn: str
    exit_code: int
    log_stream: str


def run_migration(
    ecs: Any,
    task: MigrateTask,
    *,
    timeout: float = 900.0,
    poll: float = 6.0,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Start the task, poll ``DescribeTasks`` until it stops, and require exit code 0.

    ``ecs`` is a boto3 ECS client. Raises :class:`MigrationFailed` with the task's stop reason,
    the container's exit code and reason, and where its logs are; a task still running after
    ``timeout`` seconds is stopped.
    """
    started = ecs.run_task(
        cluster=task.cluster,
        taskDefinition=task.task_definition_arn,
        launchType="FARGATE",
        platformVersion=PLATFORM_VERSION,
        count=1,
        startedBy="colonnade-deploy",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(task.subnets),
                "securityGroups": list(task.security_groups),
                "assignPublicIp": "DISABLED",
            }
        },
    )
    tasks = started.get("tasks") or []
    if started.get("failures") or not tasks:
        reasons = "; ".join(
            f"{f.get('arn', '?')}: {f.get('reason', '?')} {f.get('detail', '')}".strip()
            for f in started.get("failures") or []
        )
        raise MigrationFailed(f"RunTask started no migrate task ({reasons or 'no reason given'})")
    task_arn = str(tasks[0]["taskArn"])
    stream = task.log_stream(task_arn)
    log(f"migrate: task {task_arn} started; logs in {task.log_group} stream {stream}")

    deadline = clock() + timeout
    last_status = None
    while True:
        described = ecs.describe_tasks(cluster=task.cluster, tasks=[task_arn])
        found = described.get("tasks") or []
        if not found:
            raise MigrationFailed(
                f"DescribeTasks does not know {task_arn}: {described.get('failures')}"
            )
        current = found[0]
        status = current.get("lastStatus")
        if status != last_status:
            log(f"migrate: {status}")
            last_status = status
        if status == "STOPPED":
            break
        if clock() >= deadline:
            ecs.stop_task(cluster=task.cluster, task=task_arn, reason="deploy.py: timed out")
            raise MigrationFailed(
                f"the migrate task did not finish within {timeout:.0f} s (last status {status}); "
                f"it was stopped. Logs: {task.log_group} {stream}"
            )
        sleep(poll)

    container: dict[str, Any] = next(
        (c for c in current.get("containers") or [] if c.get("name") == task.container_name),
        {},
    )
    exit_code = container.get("exitCode")
    if exit_code != 0:
        why = "; ".join(
            part
            for part in (
                current.get("stoppedReason"),
                container.get("reason"),
                f"exit code {exit_code}" if exit_code is not None else "no exit code",
            )
            if part
        )
        raise MigrationFailed(f"the migrate task failed: {why}. Logs: {task.log_group} {stream}")
    log("migrate: exited 0")
    return Outcome(task_arn, 0, stream)
