"""How many failed tasks the rehearsal replaces before it fails, as ECS's circuit breaker."""

from __future__ import annotations

import pytest

from colonnade_tools.rehearsal import failed_task_threshold


@pytest.mark.parametrize(
    ("desired", "threshold"),
    [(1, 3), (2, 3), (6, 3), (8, 4), (399, 200), (400, 200), (10_000, 200)],
)
def test_the_threshold_is_half_the_desired_count_within_3_and_200(
    desired: int, threshold: int
) -> None:
    assert failed_task_threshold(desired) == threshold
