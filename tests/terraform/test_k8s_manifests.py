"""The EKS manifests from scripts/k8s_manifests.py: schema-valid offline, and carrying the
availability and security properties the platform promises."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ..conftest import REPO_ROOT
from .harness import ENVIRONMENTS

SCRIPT = REPO_ROOT / "scripts" / "k8s_manifests.py"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_manifests", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["k8s_manifests"] = module
    spec.loader.exec_module(module)
    return module


k8s = _load()


def _docs(env: str) -> list[dict[str, Any]]:
    tags = k8s.image_tags(
        REPO_ROOT / "terraform" / "environments" / env / "images.auto.tfvars.json"
    )
    docs: list[dict[str, Any]] = k8s.manifests(env, REGISTRY, tags)
    return docs


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_manifest_validates_against_the_kubernetes_schema(env: str) -> None:
    """Strict schema validation (unknown fields rejected) for the EKS module's Kubernetes."""
    docs = _docs(env)
    assert len(docs) == 1 + 3 * 5
    for doc in docs:
        kubernetes_validate.validate(doc, k8s.KUBERNETES_VERSION, strict=True)


def test_validation_rejects_a_broken_manifest() -> None:
    """The validator is really checking: a misspelt probe field fails."""
    deployment = _of(_docs("dev"), "Deployment")["catalog"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpcc"] = {"port": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, k8s.KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_availability(env: str) -> None:
    """Zone spread, PDB, HPA bounds equal to the ECS sizing of the same environment."""
    docs = _docs(env)
    sizing = k8s.service_sizing(env)
    deployments, pdbs, hpas = (
        _of(docs, "Deployment"),
        _of(docs, "PodDisruptionBudget"),
        _of(docs, "HorizontalPodAutoscaler"),
    )
    assert set(deployments) == set(pdbs) == set(hpas) == {"gateway", "catalog", "orders"}
    for name, d in deployments.items():
        spread = d["spec"]["template"]["spec"]["topologySpreadConstraints"]
        zone = [c for c in spread if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule" and zone[0]["maxSkew"] == 1
        assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert hpas[name]["spec"]["minReplicas"] == sizing[name]["min_tasks"]
        assert hpas[name]["spec"]["maxReplicas"] == sizing[name]["max_tasks"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]
    if env == "prod":
        assert all(h["spec"]["minReplicas"] >= 2 for h in hpas.values())


def test_probes_and_security_context() -> None:
    """gRPC probes on the services, HTTP on the gateway; non-root, read-only, no capabilities."""
    docs = _docs("prod")
    for name, d in _of(docs, "Deployment").items():
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if name == "gateway":
                assert c[probe]["httpGet"]["path"] == "/healthz"
            else:
                assert c[probe]["grpc"] == {"port": 50051}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert (
            c["image"]
            == f"{REGISTRY}/colonnade/{name}:"
            + json.loads(
                (REPO_ROOT / "terraform/environments/prod/images.auto.tfvars.json").read_text()
            )["image_tags"][name]
        )
    ns = _of(docs, "Namespace")["colonnade"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_accounts_match_the_pod_identities() -> None:
    """The ServiceAccounts are the ones the platform module binds IAM roles to."""
    platform = (REPO_ROOT / "terraform/modules/platform/main.tf").read_text()
    assert 'namespace       = "colonnade"' in platform and "service_account = s" in platform
    accounts = _of(_docs("dev"), "ServiceAccount")
    assert set(accounts) == {"gateway", "catalog", "orders"}
    assert {a["metadata"]["namespace"] for a in accounts.values()} == {"colonnade"}
    for name, d in _of(_docs("dev"), "Deployment").items():
        assert d["spec"]["template"]["spec"]["serviceAccountName"] == name


def test_cli_writes_a_yaml_stream(tmp_path: Path) -> None:
    """The command line writes every document as YAML."""
    out = tmp_path / "m.yaml"
    assert k8s.main(["--env", "staging", "--registry", REGISTRY, "--output", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in docs].count("Deployment") == 3
