#!/usr/bin/env python3
"""Render the services' Kubernetes manifests for an environment running `compute = "eks"`.

    scripts/deploy.py prod output > prod-outputs.json
    python scripts/k8s_manifests.py --outputs prod-outputs.json | kubectl apply -f -

Everything comes from the live root's outputs (``terraform output -json``), the same values ECS
runs: ``container_definitions`` (image, command, environment, health check, user),
``services`` (port, protocol, sizing, the ALB target group) and ``kubernetes`` (namespace,
image architecture). No tfvars are parsed, so a service added to the topology appears here.

For each service: a ServiceAccount (EKS Pod Identity binds its IAM role, so no annotation), a
ConfigMap with the container's environment, a SecretProviderClass when the container has
Secrets Manager variables (see :func:`secret_provider_class`), a Deployment (zone topology
spread, restricted security context, the image's own ``colonnade-healthcheck`` as exec probes,
graceful shutdown; its pod template carries a digest of the environment and the secrets' ARNs,
so a change to either rolls the pods as a new task definition rolls ECS tasks: pods read both
when they start), a Service, a PodDisruptionBudget, a HorizontalPodAutoscaler (CPU, fed by
the metrics-server add-on) and a TargetGroupBinding (``eks.amazonaws.com/v1``: EKS Auto Mode's
load balancer controller registers the pods in the ALB target group Terraform made); plus the
namespace with the `restricted` Pod Security level enforced.

The cluster needs the Secrets Store CSI driver with Secret sync on and its AWS provider (the
provider's Helm chart installs both: ``secrets-store-csi-driver.syncSecret.enabled=true``);
the eks module grants each pod identity exactly the secrets its task definition names.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

#: Kubernetes version the manifests target (the EKS module's default).
KUBERNETES_VERSION = "1.33"
#: The Secrets Store CSI driver's API and driver name, and where the pod mounts the secrets.
SECRET_PROVIDER_CLASS_API = "secrets-store.csi.x-k8s.io/v1"
SECRETS_STORE_DRIVER = "secrets-store.csi.k8s.io"
SECRETS_MOUNT = "/mnt/secrets-store"
#: The pod template's annotation with :func:`_config_digest`.
CONFIG_DIGEST_ANNOTATION = "colonnade.dev/config-sha256"
#: API group of TargetGroupBinding under EKS Auto Mode (elbv2.k8s.aws/v1beta1 is the
#: self-managed controller's), EKS user guide, auto-multi-cluster-target-groups.
TARGET_GROUP_BINDING_API = "eks.amazonaws.com/v1"


def load_outputs(text: str) -> dict[str, Any]:
    """``terraform output -json`` (``{name: {value, ...}}``) or a plain ``{name: value}``."""
    data = json.loads(text)
    return {
        k: v["value"] if isinstance(v, dict) and "value" in v and "type" in v else v
        for k, v in data.items()
    }


def _labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": "colonnade"}


def _probes(container: dict[str, Any], port_name: str) -> dict[str, Any]:
    """The ECS health check command as exec startup and readiness probes; liveness is the port.

    Liveness only asks whether the process listens: the readiness command also checks the
    backends (the gateway's /readyz), and a backend outage must not restart every pod.
    """
    command = container["healthCheck"]["command"]
    if command[0] != "CMD":
        raise ValueError(f"{container['name']}: only CMD health checks map to exec probes")
    exec_action = {"exec": {"command": list(command[1:])}}
    return {
        "startupProbe": {
            **exec_action,
            "periodSeconds": 2,
            "failureThreshold": 30,
            "timeoutSeconds": 5,
        },
        "readinessProbe": {
            **exec_action,
            "periodSeconds": 5,
            "failureThreshold": 2,
            "timeoutSeconds": 5,
        },
        "livenessProbe": {
            "tcpSocket": {"port": port_name},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
    }


def _config_digest(environment: dict[str, str], secrets: list[dict[str, str]]) -> str:
    """SHA-256 of what a pod reads at start besides its image: environment and secret ARNs."""
    blob = json.dumps({"environment": environment, "secrets": secrets}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def secret_provider_class(
    name: str, namespace: str, secrets: list[dict[str, str]]
) -> dict[str, Any]:
    """The Secrets Manager variables of a container (ECS `secrets`) for the Secrets Store CSI
    driver with the AWS provider (ASCP): each secret is fetched with the pod's own identity
    (``usePodIdentity``: its EKS Pod Identity role, granted exactly these ARNs by the eks
    module) when the pod mounts the volume, and synced into the Kubernetes Secret
    ``<name>-secrets`` under the variable's name, which the container reads as ECS injects it.

    A ``valueFrom`` may name a whole secret (its ARN) or one JSON key of it
    (``<arn>:<key>::``, ECS's form); a version stage or id has no counterpart here and is
    refused."""
    # One entry per secret (ASCP refuses two objects mounted under one file name), its JSON
    # keys as jmesPath items, the whole secret under the alias of a variable that takes it all.
    objects: dict[str, dict[str, Any]] = {}
    for s in secrets:
        parts = s["valueFrom"].split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2:6:3] != ["secretsmanager", "secret"]:
            raise ValueError(
                f"{name}: secret {s['name']} is not a Secrets Manager secret ARN "
                f"({s['valueFrom']!r})"
            )
        base = ":".join(parts[:7])
        key, stage, version = [*parts[7:], "", "", ""][:3]
        if stage or version:
            raise ValueError(
                f"{name}: secret {s['name']} pins a version stage or id ({s['valueFrom']}): "
                "the manifests take the current version only"
            )
        entry = objects.setdefault(base, {"objectName": base, "objectType": "secretsmanager"})
        if key:
            entry.setdefault("jmesPath", []).append({"path": key, "objectAlias": s["name"]})
        elif "objectAlias" in entry:
            raise ValueError(
                f"{name}: secrets {entry['objectAlias']} and {s['name']} both take all of "
                f"{base}: one variable per whole secret"
            )
        else:
            entry["objectAlias"] = s["name"]
    return {
        "apiVersion": SECRET_PROVIDER_CLASS_API,
        "kind": "SecretProviderClass",
        "metadata": {"name": f"{name}-secrets", "namespace": namespace, "labels": _labels(name)},
        "spec": {
            "provider": "aws",
            "parameters": {
                "usePodIdentity": "true",
                "objects": yaml.safe_dump(list(objects.values()), sort_keys=False),
            },
            "secretObjects": [
                {
                    "secretName": f"{name}-secrets",
                    "type": "Opaque",
                    "labels": _labels(name),
                    "data": [{"objectName": s["name"], "key": s["name"]} for s in secrets],
                }
            ],
        },
    }


def service_manifests(
    name: str,
    container: dict[str, Any],
    service: dict[str, Any],
    namespace: str,
    architecture: str,
) -> list[dict[str, Any]]:
    """A service's ServiceAccount, ConfigMap, SecretProviderClass (when it has secrets),
    Deployment, Service, PodDisruptionBudget, HPA and TargetGroupBinding."""
    labels = _labels(name)
    meta = {"name": name, "namespace": namespace, "labels": labels}
    port = service["port"]
    port_name = "http" if service["protocol"] == "http" else "grpc"
    cpu_m = max(100, service["cpu"] * 1000 // 1024)
    memory_mi = service["memory"]
    uid, gid = (int(x) for x in container["user"].split(":"))
    environment = {e["name"]: e["value"] for e in container.get("environment", [])}
    pod_container: dict[str, Any] = {
        "name": name,
        "image": container["image"],
        "imagePullPolicy": "IfNotPresent",
        "command": list(container["command"]),
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": name}}],
        # Secrets Manager variables (ECS injects them): read from the Kubernetes Secret
        # `<name>-secrets` that the Secrets Store CSI driver syncs when the pod mounts the
        # SecretProviderClass's volume (below). Not optional: a pod without it does not
        # start, and says why.
        **(
            {
                "env": [
                    {
                        "name": s["name"],
                        "valueFrom": {
                            "secretKeyRef": {"name": f"{name}-secrets", "key": s["name"]}
                        },
                    }
                    for s in container["secrets"]
                ]
            }
            if container.get("secrets")
            else {}
        ),
        **_probes(container, port_name),
        "resources": {
            "requests": {"cpu": f"{cpu_m}m", "memory": f"{memory_mi}Mi"},
            "limits": {"memory": f"{memory_mi}Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": bool(container["readonlyRootFilesystem"]),
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    secrets = list(container.get("secrets") or [])
    if secrets:
        # The mount is what makes the driver fetch the secrets and sync the Secret.
        pod_container["volumeMounts"].append(
            {"name": "secrets-store", "mountPath": SECRETS_MOUNT, "readOnly": True}
        )
        volumes.append(
            {
                "name": "secrets-store",
                "csi": {
                    "driver": SECRETS_STORE_DRIVER,
                    "readOnly": True,
                    "volumeAttributes": {"secretProviderClass": f"{name}-secrets"},
                },
            }
        )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            # The HPA owns the count; this is the starting point (and the floor).
            "replicas": service["min_tasks"],
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "50%"},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    # The ConfigMap and the synced Secret are read when a pod starts: a changed
                    # environment (PAGE_TOKEN_KEY_VERSION when the page-token keys rotate, say)
                    # changes the template, so the Deployment rolls like an ECS service.
                    "annotations": {CONFIG_DIGEST_ANNOTATION: _config_digest(environment, secrets)},
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": True,  # pod identity needs the projected token
                    "terminationGracePeriodSeconds": container.get("stopTimeout", 30),
                    "nodeSelector": {"kubernetes.io/arch": architecture},
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": uid,
                        "runAsGroup": gid,
                        "fsGroup": gid,
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
                    "containers": [pod_container],
                    "volumes": volumes,
                },
            },
        },
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": environment},
        *([secret_provider_class(name, namespace, secrets)] if secrets else []),
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
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": service["min_tasks"],
                "maxReplicas": service["max_tasks"],
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
        {
            "apiVersion": TARGET_GROUP_BINDING_API,
            "kind": "TargetGroupBinding",
            "metadata": meta,
            "spec": {
                "serviceRef": {"name": name, "port": port},
                "targetGroupARN": service["target_group_arn"],
                "targetType": "ip",
            },
        },
    ]


def manifests(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every manifest of an environment: the namespace, then each service's objects."""
    k8s = outputs["kubernetes"]
    namespace = k8s["namespace"]
    containers = outputs["container_definitions"]
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
    for name in sorted(outputs["services"]):
        if name not in containers:
            raise ValueError(f"no container definition for {name}")
        docs += service_manifests(
            name, containers[name], outputs["services"][name], namespace, k8s["architecture"]
        )
    return docs


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the manifests as one multi-document YAML stream."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--outputs",
        required=True,
        help="`terraform output -json` of the live root (deploy.py <env> output); - is stdin",
    )
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.outputs == "-" else Path(args.outputs).read_text()
    rendered = yaml.safe_dump_all(manifests(load_outputs(text)), sort_keys=False)
    if args.output:
        args.output.write_text(rendered)
    else:
        sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
