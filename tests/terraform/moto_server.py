"""moto's server with two emulator artefacts removed: ``python -m tests.terraform.moto_server``.

1. moto 5.2.5's RunTask adds up each container's ``memory`` (or ``memoryReservation``) for EC2
   placement and raises ``TypeError`` (HTTP 500) when a container has neither. On Fargate only
   the task's memory is required (ECS developer guide, task definition parameters), and the task
   definitions here set it at task level only. A container without either counts as 0, on a
   copy, so what DescribeTaskDefinition returns is unchanged.
2. moto serves plain HTTP on loopback, so a bucket policy statement denying requests with
   ``aws:SecureTransport = false`` (every bucket here has one) denies every object request. AWS
   endpoints are HTTPS only: for that statement, and only that one, requests count as TLS.
3. moto's memcached clusters have no ConfigurationEndpoint, which AWS returns for every
   memcached cluster (the Auto Discovery endpoint, ``<id>.<hash>.cfg.<region>.cache.amazonaws
   .com:<port>``); the provider then reads ``cluster_address`` back as null. It is added, in
   AWS's form.
4. moto's Application Auto Scaling has no ListTagsForResource, TagResource or UntagResource
   (HTTP 500) and drops the ``Tags`` of RegisterScalableTarget; the provider reads a scalable
   target's tags on every refresh, so the plan after an apply failed. Tags are kept per target
   ARN and answered as AWS does.
5. moto's CreateService drops ``capacityProviderStrategy`` (and reports launch type EC2 in its
   place), ``healthCheckGracePeriodSeconds``, ``enableECSManagedTags`` and
   ``availabilityZoneRebalancing``; AWS returns them as given. The provider then plans to
   replace every service on the plan after an apply (capacity_provider_strategy forces a new
   resource). They are kept and returned as given.

Nothing else is altered.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any, cast

from moto.applicationautoscaling import responses as autoscaling_responses
from moto.ecs import models
from moto.ecs import responses as ecs_responses
from moto.elasticache import models as elasticache_models
from moto.s3 import models as s3_models


def _with_container_memory(task_definition: Any) -> Any:
    patched = copy.copy(task_definition)
    patched.container_definitions = [
        cd
        if any(k in cd for k in ("memory", "memoryReservation", "Memory", "MemoryReservation"))
        else {**cd, "memory": 0}
        for cd in task_definition.container_definitions
    ]
    return patched


# A staticmethod on the backend class.
_original = models.EC2ContainerServiceBackend._calculate_task_resource_requirements


def _calculate_task_resource_requirements(task_definition: Any) -> Any:
    return _original(_with_container_memory(task_definition))


models.EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(  # type: ignore[method-assign]
    _calculate_task_resource_requirements
)


def _denies_plain_http_only(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    return statement.get("Effect") == "Deny" and condition in (
        {"Bool": {"aws:SecureTransport": "false"}},
        {"Bool": {"aws:SecureTransport": ["false"]}},
    )


def _get_permission_over_tls(self: Any, action: str, resource: str) -> Any:
    # FakeBucket.get_permission, on the policy without its plain-HTTP denials (the stored
    # policy is not touched: GetBucketPolicy answers it unchanged).
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy)
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [s for s in statements if not _denies_plain_http_only(s)]
    return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(
        action, resource
    )


s3_models.FakeBucket.get_permission = _get_permission_over_tls  # type: ignore[method-assign]

_cache_cluster_init = elasticache_models.CacheCluster.__init__


def _cache_cluster_with_configuration_endpoint(self: Any, *args: Any, **kwargs: Any) -> None:
    _cache_cluster_init(self, *args, **kwargs)
    if self.engine == "memcached":
        region = kwargs.get("region_name") or args[1]
        short = region.replace("north", "n").replace("south", "s").replace("east", "e")
        short = short.replace("west", "w").replace("central", "c").replace("-", "")
        self.configuration_endpoint = {
            "address": f"{self.cache_cluster_id}.abc123.cfg.{short}.cache.amazonaws.com",
            "port": self.port,
        }


elasticache_models.CacheCluster.__init__ = _cache_cluster_with_configuration_endpoint  # type: ignore[method-assign]

_scaling_tags: dict[str, dict[str, str]] = {}
_register_scalable_target = (
    autoscaling_responses.ApplicationAutoScalingResponse.register_scalable_target
)


def _register_with_tags(self: Any) -> str:
    body = _register_scalable_target(self)
    tags = self._get_param("Tags")
    if tags:
        _scaling_tags.setdefault(json.loads(body)["ScalableTargetARN"], {}).update(tags)
    return body


def _list_tags(self: Any) -> str:
    return json.dumps({"Tags": _scaling_tags.get(self._get_param("ResourceARN"), {})})


def _tag(self: Any) -> str:
    _scaling_tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags"))
    return "{}"


def _untag(self: Any) -> str:
    tags = _scaling_tags.get(self._get_param("ResourceARN"), {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return "{}"


_response = autoscaling_responses.ApplicationAutoScalingResponse
_response.register_scalable_target = _register_with_tags  # type: ignore[method-assign]
_response.list_tags_for_resource = _list_tags  # type: ignore[attr-defined]
_response.tag_resource = _tag  # type: ignore[attr-defined]
_response.untag_resource = _untag  # type: ignore[attr-defined]

_create_service = ecs_responses.EC2ContainerServiceResponse.create_service


def _create_service_as_given(self: Any) -> Any:
    result = _create_service(self)
    service = cast(Any, result.result)["service"]
    strategy = self._get_param("capacityProviderStrategy")
    if strategy:
        service.capacity_provider_strategy = strategy
        service.launch_type = None  # AWS: a strategy or a launch type, never both
    for param, attribute in (
        ("healthCheckGracePeriodSeconds", "health_check_grace_period_seconds"),
        ("enableECSManagedTags", "enable_ecs_managed_tags"),
        ("availabilityZoneRebalancing", "availability_zone_rebalancing"),
    ):
        value = self._get_param(param)
        if value is not None:
            setattr(service, attribute, value)
    return result


ecs_responses.EC2ContainerServiceResponse.create_service = _create_service_as_given  # type: ignore[method-assign]

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
