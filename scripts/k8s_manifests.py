#!/usr/bin/env python3
"""Generate the services' Kubernetes manifests for an environment running `compute = "eks"`.

    python scripts/k8s_manifests.py --env prod \\
        --registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com \\
        --tags-from terraform/environments/prod/images.auto.tfvars.json | kubectl apply -f -

For gateway, catalog and orders it emits a ServiceAccount (the EKS module binds an IAM role to
it with EKS Pod Identity, so no annotation is needed), a Deployment (zone topology spread,
restricted security context, gRPC or HTTP probes, graceful shutdown), a Service, a
PodDisruptionBudget and a HorizontalPodAutoscaler, plus the namespace with the `restricted` Pod
Security level enforced. Replica floors and ceilings come from the environment's
``terraform.tfvars`` (``services``), the same numbers ECS uses, and image tags from its
``images.auto.tfvars.json``, so both computes deploy the same thing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS_ROOT = REPO_ROOT / "terraform" / "environments"
NAMESPACE = "colonnade"
GRPC_PORT = 50051
GATEWAY_PORT = 8080
SERVICES = ("gateway", "catalog", "orders")
#: Kubernetes version the manifests target (the EKS module's default).
KUBERNETES_VERSION = "1.33"


def service_sizing(env: str) -> dict[str, dict[str, int]]:
    """``{service: {cpu, memory, min_tasks, max_tasks}}`` from the environment's terraform.tfvars.

    Reads the one-line-per-service ``services = { name = { k = v, ... } }`` block the tfvars
    files use; raises ValueError if a service is missing.
    """
    text = (ENVIRONMENTS_ROOT / env / "terraform.tfvars").read_text()
    block = re.search(r"^services\s*=\s*\{(.*?)^\}", text, re.M | re.S)
    if block is None:
        raise ValueError(f"{env}/terraform.tfvars has no services block")
    sizing: dict[str, dict[str, int]] = {}
    for name, body in re.findall(r"^\s*(\w+)\s*=\s*\{([^}]*)\}", block.group(1), re.M):
        sizing[name] = {k: int(v) for k, v in re.findall(r"(\w+)\s*=\s*(\d+)", body)}
    missing = [s for s in SERVICES if s not in sizing]
    if missing:
        raise ValueError(f"{env}/terraform.tfvars sizes no {missing}")
    return sizing


def image_tags(path: Path) -> dict[str, str]:
    """Image tags from an ``images.auto.tfvars.json`` file."""
    tags: dict[str, str] = json.loads(path.read_text())["image_tags"]
    return tags


def _labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": "colonnade"}


def _probes(service: str) -> dict[str, Any]:
    """gRPC services: native gRPC probes on grpc.health.v1; the gateway: HTTP /healthz."""
    if service == "gateway":
        action: dict[str, Any] = {"httpGet": {"path": "/healthz", "port": "http"}}
    else:
        action = {"grpc": {"port": GRPC_PORT}}
    return {
        "startupProbe": {**action, "periodSeconds": 2, "failureThreshold": 30},
        "readinessProbe": {**action, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {
            **action,
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
    }


def _environment(service: str) -> list[dict[str, str]]:
    """Plain settings; database and cache addresses come from the colonnade-endpoints ConfigMap."""
    env = [{"name": "SERVICE_NAME", "value": service}, {"name": "LOG_LEVEL", "value": "INFO"}]
    if service == "gateway":
        env += [
            {"name": "HTTP_PORT", "value": str(GATEWAY_PORT)},
            {"name": "CATALOG_ADDRESS", "value": f"catalog:{GRPC_PORT}"},
            {"name": "ORDERS_ADDRESS", "value": f"orders:{GRPC_PORT}"},
        ]
    else:
        env += [
            {"name": "GRPC_HOST", "value": "0.0.0.0"},
            {"name": "GRPC_PORT", "value": str(GRPC_PORT)},
            {"name": "DB_IAM_AUTH", "value": "1"},
            {"name": "SHUTDOWN_DELAY_SECONDS", "value": "5"},
        ]
    return env


def service_manifests(
    service: str, image: str, sizing: dict[str, int], namespace: str = NAMESPACE
) -> list[dict[str, Any]]:
    """ServiceAccount, Deployment, Service, PodDisruptionBudget and HPA of one service."""
    labels = _labels(service)
    port_name = "http" if service == "gateway" else "grpc"
    port = GATEWAY_PORT if service == "gateway" else GRPC_PORT
    meta = {"name": service, "namespace": namespace, "labels": labels}
    cpu_m = max(100, sizing.get("cpu", 512) * 1000 // 1024)
    memory_mi = sizing.get("memory", 1024)
    min_replicas = sizing["min_tasks"]
    max_replicas = sizing["max_tasks"]
    container: dict[str, Any] = {
        "name": service,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
        "env": _environment(service),
        "envFrom": [{"configMapRef": {"name": "colonnade-endpoints", "optional": True}}],
        **_probes(service),
        "resources": {
            "requests": {"cpu": f"{cpu_m}m", "memory": f"{memory_mi}Mi"},
            "limits": {"memory": f"{memory_mi}Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            # The HPA owns the count; this is the starting point (and the floor).
            "replicas": min_replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "50%"},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": service,
                    "automountServiceAccountToken": True,  # pod identity needs the projected token
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": labels},
                        },
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": labels},
                        },
                    ],
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        },
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        deployment,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [
                    {
                        "name": port_name,
                        "port": port,
                        "targetPort": port_name,
                        "protocol": "TCP",
                        "appProtocol": "kubernetes.io/h2c" if port_name == "grpc" else "http",
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {
                # With one replica (dev) a drain may take it; otherwise keep all but one.
                "maxUnavailable": 1,
                "selector": {"matchLabels": labels},
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service},
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 60},
                        },
                    }
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
        },
    ]


def manifests(
    env: str, registry: str, tags: dict[str, str], namespace: str = NAMESPACE
) -> list[dict[str, Any]]:
    """Every manifest of an environment: the namespace, then each service's objects."""
    sizing = service_sizing(env)
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        }
    ]
    for service in SERVICES:
        if service not in tags:
            raise ValueError(f"no image tag for {service}")
        image = f"{registry.rstrip('/')}/colonnade/{service}:{tags[service]}"
        docs += service_manifests(service, image, sizing[service], namespace)
    return docs


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the manifests as one multi-document YAML stream."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env",
        required=True,
        choices=sorted(p.name for p in ENVIRONMENTS_ROOT.iterdir() if p.is_dir()),
    )
    parser.add_argument(
        "--registry",
        required=True,
        help="ECR registry host, e.g. <account>.dkr.ecr.<region>.amazonaws.com",
    )
    parser.add_argument(
        "--tags-from", type=Path, help="images.auto.tfvars.json (default: the environment's)"
    )
    parser.add_argument("--namespace", default=NAMESPACE)
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    tags = image_tags(args.tags_from or ENVIRONMENTS_ROOT / args.env / "images.auto.tfvars.json")
    text = yaml.safe_dump_all(
        manifests(args.env, args.registry, tags, args.namespace), sort_keys=False
    )
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
