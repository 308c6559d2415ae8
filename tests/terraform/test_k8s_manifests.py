"""The EKS manifests from scripts/k8s_manifests.py, rendered from each environment's outputs after
the apply against moto: schema-valid offline, carrying the availability and security
properties the platform promises, and the very environment ECS runs."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from .conftest import REPO_ROOT, planned_resources
from .harness import ENVIRONMENTS, RootRun

pytestmark = [pytest.mark.terraform, pytest.mark.slow, pytest.mark.timeout(3600)]

SCRIPT = REPO_ROOT / "scripts" / "k8s_manifests.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_manifests", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["k8s_manifests"] = module
    spec.loader.exec_module(module)
    return module


k8s = _load()

#: TargetGroupBinding is a custom resource that kubernetes-validate has no schema for: its spec
#: as documented for the load balancer controller (TargetGroupBindingSpec) and EKS Auto Mode,
#: strict about unknown fields like the built-in kinds.
TARGET_GROUP_BINDING_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "eks.amazonaws.com/v1"},
        "kind": {"const": "TargetGroupBinding"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "spec": {
            "type": "object",
            "required": ["serviceRef", "targetGroupARN"],
            "additionalProperties": False,
            "properties": {
                "targetGroupARN": {
                    "type": "string",
                    "pattern": "^arn:aws[a-z-]*:elasticloadbalancing:",
                },
                "targetGroupName": {"type": "string"},
                "targetType": {"enum": ["instance", "ip"]},
                "serviceRef": {
                    "type": "object",
                    "required": ["name", "port"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "port": {"type": ["integer", "string"]},
                    },
                },
                "networking": {"type": "object"},
                "nodeSelector": {"type": "object"},
                "ipAddressType": {"enum": ["ipv4", "ipv6"]},
                "vpcID": {"type": "string"},
                "multiClusterTargetGroup": {"type": "boolean"},
            },
        },
    },
}


#: SecretProviderClass (Secrets Store CSI driver) is a custom resource too: its spec as the
#: driver's v1 CRD defines it, with the AWS provider's parameters (ASCP), strict the same way.
SECRET_PROVIDER_CLASS_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "secrets-store.csi.x-k8s.io/v1"},
        "kind": {"const": "SecretProviderClass"},
        "metadata": TARGET_GROUP_BINDING_SCHEMA["properties"]["metadata"],  # type: ignore[index]
        "spec": {
            "type": "object",
            "required": ["provider", "parameters"],
            "additionalProperties": False,
            "properties": {
                "provider": {"const": "aws"},
                "parameters": {
                    "type": "object",
                    "required": ["objects"],
                    "additionalProperties": False,
                    "properties": {
                        "objects": {"type": "string"},
                        "region": {"type": "string"},
                        "failoverRegion": {"type": "string"},
                        "pathTranslation": {"type": "string"},
                        "usePodIdentity": {"enum": ["true", "false"]},
                        "preferredAddressType": {"enum": ["ipv4", "ipv6", "auto"]},
                    },
                },
                "secretObjects": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["secretName", "type", "data"],
                        "additionalProperties": False,
                        "properties": {
                            "secretName": {"type": "string"},
                            "type": {"type": "string"},
                            "labels": {"type": "object"},
                            "annotations": {"type": "object"},
                            "data": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["objectName", "key"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "objectName": {"type": "string"},
                                        "key": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

#: What each entry of the AWS provider's `objects` parameter may hold (ASCP's README).
ASCP_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["objectName"],
    "additionalProperties": False,
    "properties": {
        "objectName": {"type": "string"},
        "objectType": {"enum": ["secretsmanager", "ssmparameter"]},
        "objectAlias": {"type": "string"},
        "objectVersion": {"type": "string"},
        "objectVersionLabel": {"type": "string"},
        "jmesPath": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "objectAlias"],
                "additionalProperties": False,
                "properties": {"path": {"type": "string"}, "objectAlias": {"type": "string"}},
            },
        },
    },
}


@pytest.fixture(scope="module")
def outputs(applied_envs: dict[str, RootRun]) -> dict[str, dict[str, Any]]:
    """Every environment's `terraform output -json` after its apply."""
    return {env: run.outputs() for env, run in applied_envs.items()}


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def validate(doc: dict[str, Any]) -> None:
    """Strict validation: the Kubernetes schema, or the custom resource's."""
    if doc["kind"] == "TargetGroupBinding":
        jsonschema.validate(doc, TARGET_GROUP_BINDING_SCHEMA)
    elif doc["kind"] == "SecretProviderClass":
        jsonschema.validate(doc, SECRET_PROVIDER_CLASS_SCHEMA)
        for entry in yaml.safe_load(doc["spec"]["parameters"]["objects"]):
            jsonschema.validate(entry, ASCP_OBJECT_SCHEMA)
    else:
        kubernetes_validate.validate(doc, k8s.KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_manifest_validates(env: str, outputs: dict[str, dict[str, Any]]) -> None:
    """Strict schema validation (unknown fields rejected) of every document."""
    docs = k8s.manifests(outputs[env])
    services = outputs[env]["services"]
    with_secrets = [n for n in services if outputs[env]["container_definitions"][n].get("secrets")]
    # The gateway and orders have client credentials (and the gateway its API key store);
    # every gRPC service (catalog, orders) reads its own page-token keys.
    assert sorted(with_secrets) == ["catalog", "gateway", "orders"]
    for name in ("catalog", "orders"):
        names = {s["name"] for s in outputs[env]["container_definitions"][name]["secrets"]}
        assert "PAGE_TOKEN_KEYS" in names, (name, names)
    assert len(docs) == 1 + 7 * len(services) + len(with_secrets)
    for doc in docs:
        validate(doc)


def test_validation_rejects_broken_manifests(outputs: dict[str, dict[str, Any]]) -> None:
    """The validators really check: a misspelt probe field and a misspelt binding field fail."""
    docs = k8s.manifests(outputs["dev"])
    deployment = _of(docs, "Deployment")["catalog"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpcc"] = {"port": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, k8s.KUBERNETES_VERSION, strict=True)
    binding = _of(docs, "TargetGroupBinding")["catalog"]
    binding["spec"]["targetGroupArn"] = binding["spec"].pop("targetGroupARN")
    with pytest.raises(jsonschema.ValidationError):
        validate(binding)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_is_the_ecs_task_definitions(
    env: str, outputs: dict[str, dict[str, Any]], applied_envs: dict[str, RootRun]
) -> None:
    """Each pod gets exactly the image, command and environment of its ECS task definition,
    read from the applied state: one source for both computes."""
    docs = k8s.manifests(outputs[env])
    task_defs = {
        r["values"]["family"].removeprefix(f"colonnade-{env}-"): json.loads(
            r["values"]["container_definitions"]
        )[0]
        for r in planned_resources(applied_envs[env].state())
        if r["type"] == "aws_ecs_task_definition"
    }
    config_maps = _of(docs, "ConfigMap")
    deployments = _of(docs, "Deployment")
    assert set(config_maps) == set(deployments) == set(task_defs) - {"migrate"}
    for name, ecs in task_defs.items():
        if name == "migrate":
            continue
        assert config_maps[name]["data"] == {e["name"]: e["value"] for e in ecs["environment"]}
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == ecs["image"] and container["command"] == ecs["command"]
        assert container["envFrom"] == [{"configMapRef": {"name": name}}]
        assert container["readinessProbe"]["exec"]["command"] == ecs["healthCheck"]["command"][1:]
    gateway = config_maps["gateway"]["data"]
    assert gateway["COLONNADE_GATEWAY_BACKENDS"] == (
        "colonnade.catalog.v1=catalog:50051,colonnade.catalog.v2=catalog:50051,"
        "colonnade.orders.v1=orders:50052"
    )
    assert config_maps["orders"]["data"]["CATALOG_TARGET"] == "catalog:50051"
    assert config_maps["orders"]["data"]["CACHE_URL"] == "none"
    assert not {"HTTP_PORT", "CATALOG_ADDRESS", "ORDERS_ADDRESS"} & set(gateway)
    assert config_maps["catalog"]["data"]["DATABASE_URL"].endswith(
        "sslmode=verify-full&sslrootcert=/etc/colonnade/certs/rds-ca-bundle.pem"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_availability(env: str, outputs: dict[str, dict[str, Any]]) -> None:
    """Zone spread, PDB, HPA bounds equal to the ECS sizing of the same environment."""
    docs = k8s.manifests(outputs[env])
    sizing = outputs[env]["services"]
    deployments, pdbs, hpas = (
        _of(docs, "Deployment"),
        _of(docs, "PodDisruptionBudget"),
        _of(docs, "HorizontalPodAutoscaler"),
    )
    assert (
        set(deployments)
        == set(pdbs)
        == set(hpas)
        == set(sizing)
        == {"gateway", "catalog", "orders"}
    )
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


def test_target_group_bindings_register_every_service(outputs: dict[str, dict[str, Any]]) -> None:
    """Finding 16: every service's pods are bound to its ALB target group, on its Service port."""
    out = outputs["prod"]
    docs = k8s.manifests(out)
    bindings, services = _of(docs, "TargetGroupBinding"), _of(docs, "Service")
    assert set(bindings) == set(out["services"])
    for name, binding in bindings.items():
        assert binding["apiVersion"] == "eks.amazonaws.com/v1"
        assert binding["spec"]["targetGroupARN"] == out["eks_target_group_arns"][name]
        assert binding["spec"]["targetType"] == "ip"
        assert binding["spec"]["serviceRef"]["port"] == services[name]["spec"]["ports"][0]["port"]


def test_probes_and_security_context(outputs: dict[str, dict[str, Any]]) -> None:
    """colonnade-healthcheck exec probes; liveness on the port; non-root, read-only, no
    capabilities; the image's architecture."""
    docs = k8s.manifests(outputs["prod"])
    for name, d in _of(docs, "Deployment").items():
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        for probe in ("startupProbe", "readinessProbe"):
            assert c[probe]["exec"]["command"][0] == "colonnade-healthcheck"
        assert c["livenessProbe"]["tcpSocket"] == {"port": "http" if name == "gateway" else "grpc"}
        assert (
            pod["securityContext"]["runAsNonRoot"] is True
            and pod["securityContext"]["runAsUser"] == 10001
        )
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert c["image"] == outputs["prod"]["images"][name]
    ns = _of(docs, "Namespace")["colonnade"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_accounts_match_the_pod_identities(outputs: dict[str, dict[str, Any]]) -> None:
    """The ServiceAccounts are the ones the platform module binds IAM roles to."""
    platform = (REPO_ROOT / "terraform/modules/platform/main.tf").read_text()
    assert 'namespace       = "colonnade"' in platform and "service_account = n" in platform
    docs = k8s.manifests(outputs["dev"])
    accounts = _of(docs, "ServiceAccount")
    assert set(accounts) == set(outputs["dev"]["services"])
    assert {a["metadata"]["namespace"] for a in accounts.values()} == {"colonnade"}
    for name, d in _of(docs, "Deployment").items():
        assert d["spec"]["template"]["spec"]["serviceAccountName"] == name


def test_a_secret_variable_is_read_from_a_secret_never_dropped(
    outputs: dict[str, dict[str, Any]],
) -> None:
    """ECS injects Secrets Manager variables; a pod reads each from the Kubernetes Secret
    `<service>-secrets` (not optional), which the Secrets Store CSI driver syncs from the same
    ARNs with the pod's own identity when the pod mounts the SecretProviderClass's volume."""
    out = json.loads(json.dumps(outputs["dev"]))
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-x-AbCdEf"
    other = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-y-AbCdEf"
    out["container_definitions"]["catalog"]["secrets"] = [
        {"name": "X", "valueFrom": arn},
        {"name": "Y", "valueFrom": f"{other}:password::"},
    ]
    docs = k8s.manifests(out)
    catalog = _of(docs, "Deployment")["catalog"]
    pod = catalog["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["env"] == [
        {"name": n, "valueFrom": {"secretKeyRef": {"name": "catalog-secrets", "key": n}}}
        for n in ("X", "Y")
    ]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "secrets-store")
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == "secrets-store")
    assert volume["csi"] == {
        "driver": "secrets-store.csi.k8s.io",
        "readOnly": True,
        "volumeAttributes": {"secretProviderClass": "catalog-secrets"},
    }
    spc = _of(docs, "SecretProviderClass")["catalog-secrets"]
    validate(spc)
    assert spc["spec"]["parameters"]["usePodIdentity"] == "true"
    assert yaml.safe_load(spc["spec"]["parameters"]["objects"]) == [
        {"objectName": arn, "objectType": "secretsmanager", "objectAlias": "X"},
        {
            "objectName": other,
            "objectType": "secretsmanager",
            "jmesPath": [{"path": "password", "objectAlias": "Y"}],
        },
    ]
    (synced,) = spc["spec"]["secretObjects"]
    assert synced["secretName"] == "catalog-secrets"
    assert synced["data"] == [{"objectName": n, "key": n} for n in ("X", "Y")]
    # What ECS would read from a pinned version has no counterpart: refused, naming it.
    out["container_definitions"]["catalog"]["secrets"] = [
        {"name": "Z", "valueFrom": f"{arn}:password:AWSPREVIOUS:"}
    ]
    with pytest.raises(ValueError, match="secret Z pins a version"):
        k8s.manifests(out)
    out["container_definitions"]["catalog"]["secrets"] = [{"name": "W", "valueFrom": "arn:x"}]
    with pytest.raises(ValueError, match="secret W is not a Secrets Manager secret ARN"):
        k8s.manifests(out)


def _orders(secrets: list[dict[str, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A container definition and a service entry as the platform's outputs give them."""
    container: dict[str, Any] = {
        "name": "orders",
        "image": "registry.example/colonnade@sha256:" + "0" * 64,
        "command": ["python", "-m", "colonnade.orders"],
        "environment": [],
        "secrets": secrets,
        "healthCheck": {"command": ["CMD", "colonnade-healthcheck", "grpc", "127.0.0.1:50052"]},
        "user": "10001:10001",
        "readonlyRootFilesystem": True,
    }
    service = {
        "port": 50052,
        "protocol": "grpc",
        "cpu": 256,
        "memory": 512,
        "min_tasks": 1,
        "max_tasks": 2,
        "target_group_arn": "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/x/1",
    }
    return container, service


def test_variables_from_one_secret_share_its_object() -> None:
    """ASCP mounts each object under one file name: variables taking keys of one secret (and
    one taking all of it) are one object with jmesPath items; two taking all of it are refused."""
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-db-AbCdEf"
    container, service = _orders(
        [
            {"name": "DB_USER", "valueFrom": f"{arn}:username::"},
            {"name": "DB_PASSWORD", "valueFrom": f"{arn}:password::"},
            {"name": "DB_SECRET", "valueFrom": arn},
        ]
    )
    docs = k8s.service_manifests("orders", container, service, "colonnade", "arm64")
    for doc in docs:
        validate(doc)
    spc = _of(docs, "SecretProviderClass")["orders-secrets"]
    assert yaml.safe_load(spc["spec"]["parameters"]["objects"]) == [
        {
            "objectName": arn,
            "objectType": "secretsmanager",
            "jmesPath": [
                {"path": "username", "objectAlias": "DB_USER"},
                {"path": "password", "objectAlias": "DB_PASSWORD"},
            ],
            "objectAlias": "DB_SECRET",
        }
    ]
    assert [d["key"] for d in spc["spec"]["secretObjects"][0]["data"]] == [
        "DB_USER",
        "DB_PASSWORD",
        "DB_SECRET",
    ]
    container["secrets"].append({"name": "AGAIN", "valueFrom": arn})
    with pytest.raises(ValueError, match="DB_SECRET and AGAIN both take all of"):
        k8s.service_manifests("orders", container, service, "colonnade", "arm64")


def test_a_changed_environment_or_secret_rolls_the_pods() -> None:
    """Pods read the ConfigMap and the synced Secret when they start: the pod template's digest
    of both changes with them (a page-token key rotation raises PAGE_TOKEN_KEY_VERSION), so the
    Deployment rolls as ECS rolls a new task definition; the same input, the same template."""
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/page-tokens/orders"

    def digest(version: str, secret: str) -> str:
        container, service = _orders([{"name": "PAGE_TOKEN_KEYS", "valueFrom": secret}])
        container["environment"] = [{"name": "PAGE_TOKEN_KEY_VERSION", "value": version}]
        docs = k8s.service_manifests("orders", container, service, "colonnade", "arm64")
        template = _of(docs, "Deployment")["orders"]["spec"]["template"]
        validate(_of(docs, "Deployment")["orders"])
        value: str = template["metadata"]["annotations"][k8s.CONFIG_DIGEST_ANNOTATION]
        return value

    first = digest("1", arn)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert digest("1", arn) == first
    assert digest("2", arn) != first
    assert digest("1", arn + "-other") != first


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_come_from_the_task_definitions_arns(
    env: str, outputs: dict[str, dict[str, Any]]
) -> None:
    """Each service's SecretProviderClass fetches exactly the ARNs its ECS task definition
    names, under the same variable names, and its pods read every one of them."""
    docs = k8s.manifests(outputs[env])
    classes = _of(docs, "SecretProviderClass")
    deployments = _of(docs, "Deployment")
    for name, container in outputs[env]["container_definitions"].items():
        secrets = {s["name"]: s["valueFrom"] for s in container.get("secrets") or []}
        if name == "migrate" or not secrets:
            assert f"{name}-secrets" not in classes
            continue
        objects = yaml.safe_load(classes[f"{name}-secrets"]["spec"]["parameters"]["objects"])
        assert {o["objectAlias"]: o["objectName"] for o in objects} == secrets
        env_vars = deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {e["name"] for e in env_vars} == set(secrets)


def test_cli_reads_terraform_output_json(tmp_path: Path, applied_envs: dict[str, RootRun]) -> None:
    """The command line takes `terraform output -json` as it is and writes a YAML stream."""
    raw = tmp_path / "outputs.json"
    raw.write_text(applied_envs["staging"].workdir.run("output", "-json").stdout)
    services = set(json.loads(raw.read_text())["services"]["value"])
    assert services == {"gateway", "catalog", "orders"}
    out = tmp_path / "m.yaml"
    assert k8s.main(["--outputs", str(raw), "--output", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    for kind in ("Deployment", "TargetGroupBinding"):  # one of each per service
        assert {d["metadata"]["name"] for d in docs if d["kind"] == kind} == services, kind
