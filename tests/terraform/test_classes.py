"""Tests for classes of mistakes, not instances (issue 11): each rule is checked over every
resource or environment it applies to, and each checker is shown to catch the mistake it exists
for (a test that cannot fail is a defect).

- ordering: every ECS service waits for the listener rule that feeds its target group and for
  the cluster's capacity providers; everything that turns logging on waits for the bucket policy
  (and CloudFront for the ACL-enabling ownership controls); the REST API's deployment and stage
  wait for the authorizer function and its invoke permission. From ``terraform graph``.
- collisions: the account root and every environment, planned into one account and Region,
  share no account-scoped name; the NAT Elastic IPs and retained Aurora snapshots of all
  environments fit the quotas the account root declares (and checks against Service Quotas).
- certificates: every API integration host, and the gRPC endpoint, is covered by the names of
  the certificate the environment gives the ALB.
- cache keys: every GET the stage cache may serve keys on all its path and query parameters,
  and nothing else is cached.
- token issuer: the resource server declares exactly the contracts' scopes (read from the
  descriptors, not from the document Terraform reads), each app client holds only the scopes it
  needs, and every task verifies the issuer's tokens; only a calling service gets a secret.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from colonnade_tools.deploy import layout

from .conftest import TERRAFORM_ROOT, Workdir, planned_resources, resources_of
from .harness import ENVIRONMENTS, RootRun, config_address, graph_edges, reachable

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(3600)]


################################################################################
# Ordering
################################################################################

ALB = "module.platform.module.alb"
LISTENER_RULE = f"{ALB}.aws_lb_listener_rule.grpc"
HTTPS_LISTENER = f"{ALB}.aws_lb_listener.https"
CAPACITY_PROVIDERS = "module.platform.module.ecs_cluster.aws_ecs_cluster_capacity_providers.this"
OBSERVABILITY = "module.platform.module.observability"
BUCKET_POLICY = f"{OBSERVABILITY}.aws_s3_bucket_policy.access_logs"
OWNERSHIP = f"{OBSERVABILITY}.aws_s3_bucket_ownership_controls.access_logs"
API_GATEWAY = "module.platform.module.api_gateway"
AUTHORIZER_FUNCTION = "module.platform.module.authorizer.aws_lambda_function.this"
AUTHORIZER_PERMISSION = f"{API_GATEWAY}.aws_lambda_permission.authorizer"


def logging_resources(plan: dict[str, Any]) -> dict[str, set[str]]:
    """Config address of everything that turns on logging into the access log bucket, with
    what it must wait for: the bucket policy, and for CloudFront the ownership controls."""
    found: dict[str, set[str]] = {}
    for rc in plan["resource_changes"]:
        after = rc["change"].get("after") or {}
        if rc["type"] == "aws_lb" and any(a.get("enabled") for a in after.get("access_logs") or []):
            found[config_address(rc)] = {BUCKET_POLICY}
        elif rc["type"] == "aws_cloudfront_distribution" and after.get("logging_config"):
            found[config_address(rc)] = {BUCKET_POLICY, OWNERSHIP}
        elif rc["type"] == "aws_s3_bucket_logging":
            found[config_address(rc)] = {BUCKET_POLICY}
    return found


def ordering_violations(edges: list[tuple[str, str]], plan: dict[str, Any]) -> list[str]:
    """Resources that could be created before what AWS requires to exist first."""
    violations = []
    services = {
        config_address(rc) for rc in plan["resource_changes"] if rc["type"] == "aws_ecs_service"
    }
    assert services, "no ECS service in the plan"
    for service in sorted(services):
        deps = reachable(edges, service)
        for must in (LISTENER_RULE, HTTPS_LISTENER, CAPACITY_PROVIDERS):
            if must not in deps:
                violations.append(f"{service} does not wait for {must}")
    # The imported document names the authorizer by an invoke ARN built from its name, so the
    # REST API need not wait for the function; what puts the document live must wait for the
    # function and for API Gateway's right to invoke it.
    if any(config_address(rc) == AUTHORIZER_FUNCTION for rc in plan["resource_changes"]):
        for live in (
            f"{API_GATEWAY}.aws_api_gateway_deployment.this",
            f"{API_GATEWAY}.aws_api_gateway_stage.this",
        ):
            deps = reachable(edges, live)
            violations += [
                f"{live} does not wait for {must}"
                for must in (AUTHORIZER_FUNCTION, AUTHORIZER_PERMISSION)
                if must not in deps
            ]
    logging = logging_resources(plan)
    assert len(logging) >= 3, logging  # the ALB, CloudFront, the SPA bucket's server access logs
    for resource, needs in sorted(logging.items()):
        deps = reachable(edges, resource)
        violations += [f"{resource} does not wait for {n}" for n in sorted(needs - deps)]
    return violations


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_creation_order_follows_what_aws_checks(env: str, env_runs: dict[str, RootRun]) -> None:
    """Findings 1-3: services after their routes and capacity providers, logging after the
    bucket's policy and ACL settings; the REST API's stage after its authorizer."""
    run = env_runs[env]
    assert not ordering_violations(graph_edges(run.workdir), run.plan)


#: Each fix the ordering check exists for: the file and line that make it, and what the check
#: reports without that line.
ORDERING_FIXES = {
    # Finding 1: the ALB's gRPC target group output waits for its listener rule.
    "listener-rule": (
        "terraform/modules/alb/outputs.tf",
        "depends_on = [aws_lb_listener_rule.grpc]",
        [
            "module.platform.module.ecs_service.aws_ecs_service.this"
            f" does not wait for {LISTENER_RULE}"
        ],
    ),
    # The deployment waits for the authorizer's invoke permission (and so for the function):
    # without it a first apply could open the stage while every authorized method answers 500.
    "authorizer": (
        "terraform/modules/api-gateway/main.tf",
        "depends_on = [aws_lambda_permission.authorizer]",
        [
            f"{API_GATEWAY}.aws_api_gateway_{what}.this does not wait for {must}"
            for what in ("deployment", "stage")
            for must in (AUTHORIZER_FUNCTION, AUTHORIZER_PERMISSION)
        ],
    ),
}


@pytest.mark.parametrize("fix", sorted(ORDERING_FIXES))
def test_ordering_check_catches_a_missing_dependency(
    fix: str, env_runs: dict[str, RootRun], tmp_path: Path
) -> None:
    """Without each fix's line, the check reports exactly what that line orders: the test is
    not vacuous."""
    path, line, expected = ORDERING_FIXES[fix]
    run = env_runs["dev"]
    copy = tmp_path / "tree"
    shutil.copytree(run.tree_root, copy, symlinks=True, ignore=shutil.ignore_patterns("tfplan*"))
    source = copy / path
    text = source.read_text()
    assert line in text
    source.write_text(text.replace(line, ""))
    workdir = Workdir(copy / run.workdir.path.relative_to(run.tree_root), run.workdir.toolchain)
    assert ordering_violations(graph_edges(workdir), run.plan) == expected


################################################################################
# One account, one Region: names and quotas
################################################################################

#: Resource types whose name is unique per account and Region (or per account, for IAM and
#: CloudFront): the attributes that make up that name. Singletons (one per account and Region)
#: have none: two of them anywhere collide.
ACCOUNT_SCOPED: dict[str, tuple[str, ...]] = {
    "aws_api_gateway_account": (),
    "aws_ecr_replication_configuration": (),
    "aws_backup_plan": ("name",),
    "aws_backup_vault": ("name",),
    "aws_cloudfront_function": ("name",),
    "aws_cloudfront_origin_access_control": ("name",),
    "aws_cloudfront_response_headers_policy": ("name",),
    "aws_cloudwatch_dashboard": ("dashboard_name",),
    "aws_cloudwatch_log_group": ("name",),
    "aws_cloudwatch_metric_alarm": ("alarm_name",),
    "aws_ecr_repository": ("name",),
    "aws_ecs_cluster": ("name",),
    "aws_ecs_task_definition": ("family",),
    "aws_eks_cluster": ("name",),
    "aws_elasticache_cluster": ("cluster_id",),
    "aws_elasticache_parameter_group": ("name",),
    "aws_elasticache_subnet_group": ("name",),
    "aws_iam_role": ("name",),
    "aws_lambda_function": ("function_name",),
    "aws_lb": ("name",),
    "aws_lb_target_group": ("name",),
    "aws_rds_cluster": ("cluster_identifier",),
    "aws_rds_cluster_instance": ("identifier",),
    "aws_rds_cluster_parameter_group": ("name",),
    "aws_db_subnet_group": ("name",),
    "aws_s3_bucket": ("bucket",),
    "aws_service_discovery_http_namespace": ("name",),
    "aws_sns_topic": ("name",),
    "aws_wafv2_web_acl": ("scope", "name"),
    "aws_dynamodb_table": ("name",),
    "aws_api_gateway_api_key": ("name",),
    "aws_api_gateway_usage_plan": ("name",),
    "aws_secretsmanager_secret": ("name",),
    # Hosted UI domain prefixes are global (every account, every Region).
    "aws_cognito_user_pool_domain": ("domain",),
}

#: Types whose identity is not an account-scoped name, by reason.
NOT_ACCOUNT_SCOPED: dict[str, str] = {
    # AWS generates the identifier.
    **dict.fromkeys(
        [
            "aws_kms_key",
            "aws_vpc",
            "aws_subnet",
            "aws_route_table",
            "aws_route",
            "aws_route_table_association",
            "aws_internet_gateway",
            "aws_nat_gateway",
            "aws_eip",
            "aws_vpc_endpoint",
            "aws_flow_log",
            "aws_default_security_group",
            "aws_vpc_security_group_ingress_rule",
            "aws_vpc_security_group_egress_rule",
            "aws_api_gateway_rest_api",
            "aws_api_gateway_deployment",
            "aws_api_gateway_vpc_link",
            "aws_cloudfront_distribution",
            "aws_sns_topic_subscription",
            "aws_secretsmanager_secret_rotation",
            "aws_lb_listener",
            "aws_lb_listener_rule",
            "aws_lb_target_group_attachment",
            "aws_wafv2_web_acl_association",
            "aws_wafv2_web_acl_logging_configuration",
            "aws_eks_access_entry",
            "aws_eks_access_policy_association",
            "aws_eks_pod_identity_association",
            "aws_eks_addon",
            "aws_backup_selection",
            "aws_backup_vault_lock_configuration",
            "aws_appautoscaling_target",
            "aws_cognito_user_pool",
            "aws_secretsmanager_secret_version",
            "terraform_data",
        ],
        "identified by an ID AWS generates, or by the resource it belongs to",
    ),
    # Named only inside a parent that is itself uniquely named.
    **dict.fromkeys(
        [
            "aws_ecs_service",
            "aws_ecs_cluster_capacity_providers",
            "aws_appautoscaling_policy",
            "aws_iam_role_policy",
            "aws_iam_role_policy_attachment",
            "aws_api_gateway_stage",
            "aws_api_gateway_method_settings",
            "aws_api_gateway_usage_plan_key",
            "aws_security_group",
            "aws_ecr_lifecycle_policy",
            "aws_s3_object",
            "aws_s3_bucket_policy",
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_ownership_controls",
            "aws_s3_bucket_versioning",
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_lifecycle_configuration",
            "aws_s3_bucket_logging",
            "aws_cognito_user_pool_client",
            "aws_cognito_resource_server",
            "aws_lambda_permission",
        ],
        "named within its parent (a cluster, role, API, VPC, bucket or function)",
    ),
}


def account_names(plans: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """Account-scoped names (type plus name parts) and the roots' resources that claim them.

    A name left to AWS (``name_prefix``, ``bucket_prefix``) is unique by construction and is not
    claimed. A resource type in neither table fails: every type must be classified.
    """
    claimed: dict[tuple[str, ...], list[str]] = {}
    for root, plan in plans.items():
        for r in planned_resources(plan):
            if r["mode"] != "managed":
                continue
            rtype = r["type"]
            if rtype in NOT_ACCOUNT_SCOPED:
                continue
            assert rtype in ACCOUNT_SCOPED, (
                f"classify {rtype} in ACCOUNT_SCOPED or NOT_ACCOUNT_SCOPED"
            )
            attrs = ACCOUNT_SCOPED[rtype]
            values = r["values"]
            if attrs and values.get(attrs[-1]) is None:
                prefix = values.get("name_prefix") or values.get("bucket_prefix")
                assert prefix, f"{root}: {r['address']} has no {attrs[-1]} known at plan time"
                continue
            key = (rtype, *(str(values[a]) for a in attrs))
            claimed.setdefault(key, []).append(f"{root}: {r['address']}")
    return claimed


def collisions(plans: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """Names claimed more than once."""
    return {k: v for k, v in account_names(plans).items() if len(v) > 1}


def test_one_account_holds_every_environment_without_collisions(
    env_runs: dict[str, RootRun], account_run: RootRun
) -> None:
    """Finding 4: the account root and all environments, in one account and Region, claim no
    account-scoped name twice (ECR, API Gateway's account setting, ...)."""
    plans = {"account": account_run.plan, **{env: run.plan for env, run in env_runs.items()}}
    assert not collisions(plans), json.dumps(
        {" ".join(k): v for k, v in collisions(plans).items()}, indent=2
    )


def test_collision_check_catches_shared_names_and_singletons() -> None:
    """Per-environment ECR repositories named alike and an account setting in two roots are
    reported (the shapes finding 4 describes)."""

    def plan(*resources: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "planned_values": {
                "root_module": {
                    "resources": [
                        {"address": f"{t}.this", "mode": "managed", "type": t, "values": v}
                        for t, v in resources
                    ]
                }
            }
        }

    dev = plan(
        ("aws_ecr_repository", {"name": "colonnade/catalog"}), ("aws_api_gateway_account", {})
    )
    prod = plan(
        ("aws_ecr_repository", {"name": "colonnade/catalog"}), ("aws_api_gateway_account", {})
    )
    found = collisions({"dev": dev, "prod": prod})
    assert set(found) == {("aws_ecr_repository", "colonnade/catalog"), ("aws_api_gateway_account",)}
    with pytest.raises(AssertionError, match="classify aws_made_up"):
        account_names({"dev": plan(("aws_made_up", {"name": "x"}))})


def _account_quotas(account_run: RootRun) -> dict[str, int]:
    quotas: dict[str, int] = account_run.plan["variables"]["service_quotas"]["value"]
    return quotas


def retained_snapshots(plan: dict[str, Any]) -> int:
    """Recovery points the environment's backup plan keeps at most, in its own Region."""
    total = 0
    for p in resources_of(plan, "aws_backup_plan"):
        for rule in p["values"]["rule"]:
            days = rule["lifecycle"][0]["delete_after"]
            schedule = rule["schedule"]
            # cron(min hour day-of-month month day-of-week year): daily or monthly.
            monthly = re.match(r"cron\(\S+ \S+ \d+ \* \? \*\)", schedule) is not None
            total += -(-days // 30) if monthly else days
    return total


def test_environments_fit_the_account_quotas(
    env_runs: dict[str, RootRun], account_run: RootRun
) -> None:
    """Elastic IPs (NAT gateways) and retained Aurora snapshots of all environments together fit
    the quotas the account root declares and checks (finding 4's EIPs, finding 18's snapshots)."""
    quotas = _account_quotas(account_run)
    eips = {env: len(resources_of(run.plan, "aws_eip")) for env, run in env_runs.items()}
    assert eips == {"dev": 1, "staging": 3, "prod": 3}
    assert sum(eips.values()) <= quotas["elastic_ips"], eips
    assert sum(eips.values()) > 5, "the default quota (5) would not do: the account must raise it"
    snapshots = {env: retained_snapshots(run.plan) for env, run in env_runs.items()}
    assert snapshots == {"dev": 7, "staging": 35, "prod": 35 + 13}
    assert sum(snapshots.values()) <= quotas["manual_cluster_snapshots"], snapshots
    checks = {c["address"]["to_display"] for c in account_run.plan.get("checks", [])}
    assert {"check.elastic_ip_quota", "check.manual_cluster_snapshot_quota"} <= checks


################################################################################
# Certificates
################################################################################


def covered(host: str, names: list[str]) -> bool:
    """Whether a certificate with these names is valid for ``host`` (wildcards: one label)."""
    host = host.lower()
    for name in (n.lower() for n in names):
        if name == host:
            return True
        if name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:]):
            return True
    return False


def integration_hosts(body: str, stage_variables: dict[str, str]) -> set[str]:
    """Host of every integration URI of an API document, stage variables substituted."""
    hosts = set()
    for ops in json.loads(body)["paths"].values():
        for op in ops.values():
            uri = (
                op.get("x-amazon-apigateway-integration", {}).get("uri")
                if isinstance(op, dict)
                else None
            )
            if not uri:
                continue
            uri = re.sub(r"\$\{stageVariables\.(\w+)\}", lambda m: stage_variables[m.group(1)], uri)
            match = re.match(r"^https?://([^/:]+)", uri)
            assert match, uri
            hosts.add(match.group(1))
    return hosts


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_backend_host_is_covered_by_the_certificate(
    env: str, env_runs: dict[str, RootRun]
) -> None:
    """Finding 7: API Gateway checks the ALB's certificate against each integration host."""
    plan = env_runs[env].plan
    variables = {k: v["value"] for k, v in plan["variables"].items()}
    names = variables["certificate_domain_names"]
    (api,) = resources_of(plan, "aws_api_gateway_rest_api")
    (stage,) = resources_of(plan, "aws_api_gateway_stage")
    # The stage's variables map holds the VPC link ID, unknown until apply; backendHost is
    # var.backend_host (asserted in the api-gateway module's test and, after the apply against
    # moto, in test_live.py).
    stage_variables = stage["values"].get("variables") or {"backendHost": variables["backend_host"]}
    hosts = integration_hosts(api["values"]["body"], stage_variables)
    assert hosts == {variables["backend_host"]}
    assert all(covered(h, names) for h in hosts), (hosts, names)
    grpc_endpoint = plan["planned_values"]["outputs"]["grpc_endpoint"]["value"]
    assert covered(grpc_endpoint.rsplit(":", 1)[0], names)
    (listener,) = [
        r["values"]
        for r in resources_of(plan, "aws_lb_listener")
        if r["values"]["protocol"] == "HTTPS"
    ]
    assert listener["certificate_arn"] == variables["certificate_arn"]


def test_coverage_check_refuses_the_load_balancer_name_and_deeper_labels() -> None:
    """The NLB's own DNS name, or a host one label deeper than a wildcard, is not covered."""
    names = ["*.colonnade.example.com"]
    assert covered("api.colonnade.example.com", names)
    assert not covered("colonnade-prod-api-0123.elb.eu-west-1.amazonaws.com", names)
    assert not covered("a.api.colonnade.example.com", names)
    assert not covered("colonnade.example.com", names)


################################################################################
# Stage cache keys
################################################################################


def cache_violations(plan: dict[str, Any]) -> list[str]:
    """GETs the stage cache may serve without keying on one of their parameters, and cached
    methods other than GET."""
    (stage,) = [r["values"] for r in resources_of(plan, "aws_api_gateway_stage")]
    (api,) = [r["values"] for r in resources_of(plan, "aws_api_gateway_rest_api")]
    settings = {
        r["values"]["method_path"]: r["values"]["settings"][0]
        for r in resources_of(plan, "aws_api_gateway_method_settings")
    }
    cached = {path for path, s in settings.items() if s["caching_enabled"]}
    violations = [
        f"{p} is cached but is not a GET" for p in sorted(cached) if not p.endswith("/GET")
    ]
    if not stage["cache_cluster_enabled"]:
        return violations + [f"{p} caches without a stage cache" for p in sorted(cached)]
    for path, ops in json.loads(api["body"])["paths"].items():
        get = ops.get("get")
        if not get:
            continue
        method_path = f"{path.replace('/', '~1')}/GET"
        if method_path not in cached:
            continue  # not cached: nothing to key
        keys = set(get["x-amazon-apigateway-integration"].get("cacheKeyParameters", []))
        params = {
            f"method.request.{'querystring' if p['in'] == 'query' else p['in']}.{p['name']}"
            for p in [*ops.get("parameters", []), *get.get("parameters", [])]
            if p["in"] in ("path", "query", "header")
        }
        violations += [f"GET {path} is cached without key {k}" for k in sorted(params - keys)]
    return violations


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stage_cache_keys_every_parameter(env: str, env_runs: dict[str, RootRun]) -> None:
    """Finding 12: every cached GET keys on all its path and query parameters; only GETs cache."""
    plan = env_runs[env].plan
    assert not cache_violations(plan)
    cached = [
        r
        for r in resources_of(plan, "aws_api_gateway_method_settings")
        if r["values"]["settings"][0]["caching_enabled"]
    ]
    assert (len(cached) > 0) == (env == "prod"), (
        "prod caches its GETs; dev and staging cache nothing"
    )


def test_cache_check_catches_the_unkeyed_document(env_runs: dict[str, RootRun]) -> None:
    """prod's plan with the committed document stripped of its cacheKeyParameters as its body:
    the check reports `?filter=` and `{product}` sharing entries, as finding 12 describes."""
    plan = json.loads(json.dumps(env_runs["prod"].plan))
    document = json.loads((layout.REPO_ROOT / "openapi/colonnade.apigateway.json").read_text())
    for ops in document["paths"].values():
        for op in ops.values():
            if isinstance(op, dict):
                op.get("x-amazon-apigateway-integration", {}).pop("cacheKeyParameters", None)
    for r in resources_of(plan, "aws_api_gateway_rest_api"):
        r["values"]["body"] = json.dumps(document)
    found = cache_violations(plan)
    assert "GET /v1/products is cached without key method.request.querystring.filter" in found
    assert "GET /v1/products/{product} is cached without key method.request.path.product" in found


def test_account_data_names_the_quotas_checked() -> None:
    """The quotas the class test compares against are the account root's data."""
    text = (TERRAFORM_ROOT / layout.ACCOUNT_ROOT / layout.TFVARS).read_text()
    assert re.search(r"elastic_ips\s*=\s*\d+", text) and re.search(
        r"manual_cluster_snapshots\s*=\s*\d+", text
    )


################################################################################
# The token issuer
################################################################################

#: What every verifier is told about the issuer's tokens (the gateway's with its prefix).
ISSUER_SETTINGS = ("AUTH_JWKS", "AUTH_ISSUER", "AUTH_TOKEN_USE", "AUTH_CLIENT_IDS")
GATEWAY = "COLONNADE_GATEWAY_"


def _contract_scopes() -> set[str]:
    """Every scope a method of the contracts requires, from the descriptor set itself."""
    from colonnade_tools.devauth import contract_scopes

    return set(contract_scopes())


def _api_scopes() -> set[str]:
    """The scopes of the methods the API Gateway document routes (the web UI's)."""
    document = json.loads((layout.REPO_ROOT / "openapi/colonnade.apigateway.json").read_text())
    return {
        s
        for ops in document["paths"].values()
        for op in ops.values()
        if isinstance(op, dict)
        for s in op.get("x-colonnade-policy", {}).get("scopes", [])
    }


def _containers(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container definitions output as planned (values known only after apply are absent)."""
    change = plan["output_changes"]["container_definitions"]
    after: dict[str, dict[str, Any]] = change["after"]
    return after


def issuer_violations(
    plan: dict[str, Any], env: str, contract: set[str], api: set[str]
) -> list[str]:
    """Where the environment's token issuer or its tasks depart from the contracts."""
    found: list[str] = []
    (server,) = resources_of(plan, "aws_cognito_resource_server")
    prefix = server["values"]["identifier"] + "/"
    declared = {s["scope_name"] for s in server["values"]["scope"]}
    if declared != contract:
        found.append(
            f"resource server scopes differ from the contracts': {sorted(declared ^ contract)}"
        )
    want = {
        "gateway": (contract, "client_credentials"),
        "orders": ({"catalog.reservations.write"}, "client_credentials"),
        "web": (api, "code"),
    }
    clients = {
        r["values"]["name"].removeprefix(f"colonnade-{env}-"): r["values"]
        for r in resources_of(plan, "aws_cognito_user_pool_client")
    }
    if set(clients) != set(want):
        found.append(f"app clients {sorted(clients)}, expected {sorted(want)}")
    for name, client in sorted(clients.items()):
        scopes, flow = want.get(name, (set(), ""))
        held = {
            s.removeprefix(prefix) for s in client["allowed_oauth_scopes"] if s.startswith(prefix)
        }
        if held != scopes:
            found.append(f"{name} client holds {sorted(held)}, needs {sorted(scopes)}")
        if client["allowed_oauth_flows"] != [flow]:
            found.append(f"{name} client's grants are {client['allowed_oauth_flows']}")
        if client["generate_secret"] != (flow == "client_credentials"):
            found.append(f"{name} client: a secret exactly for client credentials")
    secrets_wanted = {
        "gateway": [f"{GATEWAY}SERVICE_CLIENT_SECRET"],
        "orders": ["SERVICE_CLIENT_SECRET"],
    }
    for name, definition in sorted(_containers(plan).items()):
        env_vars = {e["name"]: e.get("value") for e in definition.get("environment", [])}
        secrets = sorted(s["name"] for s in definition.get("secrets", []))
        client_secrets = [s for s in secrets if s.endswith("SERVICE_CLIENT_SECRET")]
        if client_secrets != secrets_wanted.get(name, []):
            found.append(f"{name} reads client secrets {client_secrets}")
        if (f"{GATEWAY}API_KEYS" in secrets) != (name == "gateway"):
            found.append(f"{name}: the API key store is the gateway's alone")
        if name == "migrate":
            continue
        p = GATEWAY if name == "gateway" else ""
        missing = [k for k in ISSUER_SETTINGS if p + k not in env_vars]
        if missing:
            found.append(f"{name} is not told {missing}")
        if env_vars.get(p + "AUTH_TOKEN_USE") != "access":
            found.append(f"{name} does not require access tokens")
        if env_vars.get(p + "AUTH_SCOPE_PREFIX") != prefix:
            found.append(f"{name} strips {env_vars.get(p + 'AUTH_SCOPE_PREFIX')!r}, not {prefix!r}")
        if name == "gateway" and env_vars.get(f"{GATEWAY}POLICIES", "true") != "true":
            found.append("the gateway's policies are off")
        if name != "gateway" and env_vars.get("AUTH_MODE") != "enforce":
            found.append(f"{name} does not enforce its policies")
        if name in secrets_wanted and p + "SERVICE_TOKEN_URL" not in env_vars:
            found.append(f"{name} has a secret but no token endpoint")
    orders = {e["name"]: e.get("value") for e in _containers(plan)["orders"]["environment"]}
    if orders.get("SERVICE_TOKEN_SCOPES") != "catalog.reservations.write":
        found.append(f"orders asks for {orders.get('SERVICE_TOKEN_SCOPES')!r}")
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_issuer_holds_the_contracts_scopes_and_every_task_verifies_its_tokens(
    env: str, env_runs: dict[str, RootRun]
) -> None:
    """Every environment has a token issuer whose scopes are the contracts' (the descriptors),
    each client only what it needs, every task the issuer's settings and only its own secret."""
    plan = env_runs[env].plan
    assert not issuer_violations(plan, env, _contract_scopes(), _api_scopes())


def test_the_issuer_check_catches_each_departure(env_runs: dict[str, RootRun]) -> None:
    """A scope missing from the resource server, orders holding a scope it does not need, and
    catalog given a client secret are each reported: the check is not vacuous."""
    plan = json.loads(json.dumps(env_runs["dev"].plan))
    (server,) = resources_of(plan, "aws_cognito_resource_server")
    server["values"]["scope"] = [
        s for s in server["values"]["scope"] if s["scope_name"] != "orders.ship"
    ]
    for r in resources_of(plan, "aws_cognito_user_pool_client"):
        if r["values"]["name"] == "colonnade-dev-orders":
            r["values"]["allowed_oauth_scopes"].append("colonnade-dev/orders.write")
    _containers(plan)["catalog"]["secrets"] = [
        {"name": "SERVICE_CLIENT_SECRET", "valueFrom": "arn:aws:secretsmanager:x"}
    ]
    found = issuer_violations(plan, "dev", _contract_scopes(), _api_scopes())
    assert found == [
        "resource server scopes differ from the contracts': ['orders.ship']",
        "orders client holds ['catalog.reservations.write', 'orders.write'], needs "
        "['catalog.reservations.write']",
        "catalog reads client secrets ['SERVICE_CLIENT_SECRET']",
    ], found
