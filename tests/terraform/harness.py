"""Fixtures and helpers for the two roots: ``terraform/account`` and ``terraform/live``.

Builds on ``conftest.py`` (toolchain, Workdir, moto servers, plan helpers). One moto server
stands in for one AWS account: the account root is applied to it first, then dev, staging and
prod are planned (in parallel) and applied against the same server, each from its own copy of
the repository tree with its own local state, exactly as ``scripts/deploy.py`` would run them
(``colonnade_tools.deploy.layout`` gives the variable files and the Lambda zip's variable, here
a stand-in zip). So the environments really share an account and a Region here, as the
collision tests assume.

moto is not AWS. What it cannot do is listed in conftest.py with the reason; those resources,
and everything that depends on them (computed from ``terraform graph``), are checked by plan
only.
"""

from __future__ import annotations

import json
import re
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from colonnade_tools.deploy import layout
from colonnade_tools.deploy.toolchain import Toolchain

from .conftest import (
    MOTO_APPLY_OVERRIDES,
    REPO_ROOT,
    TERRAFORM_ROOT,
    MotoServer,
    Workdir,
    copy_tree,
    start_moto,
)

ENVIRONMENTS = tuple(layout.environment_names(TERRAFORM_ROOT))
ENVIRONMENTS_ROOT = TERRAFORM_ROOT / layout.ENVIRONMENTS
LIVE_ROOT = TERRAFORM_ROOT / layout.LIVE_ROOT
ACCOUNT_ROOT = TERRAFORM_ROOT / layout.ACCOUNT_ROOT

#: The committed API Gateway document the live root imports (generated from the protos).
OPENAPI_DOCUMENT = REPO_ROOT / "openapi" / "colonnade.apigateway.json"

UNKNOWN = "(known after apply)"


def resolve_unknowns(plan: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``plan`` where values Terraform only knows at apply time are present.

    In plan JSON an attribute computed from another resource (``kms_key_id =
    aws_kms_key.this.arn``) is absent from ``planned_values`` and flagged in ``after_unknown``,
    so checkov reads it as missing and fails checks such as "log group encrypted by KMS". An
    unknown value is never a missing one: Terraform will set it. This fills each unknown leaf
    with a placeholder string; attributes the configuration leaves unset are not in
    ``after_unknown`` and stay absent, so they still fail.
    """
    plan = json.loads(json.dumps(plan))

    def fill(values: Any, unknown: Any, where: str = "") -> Any:
        if unknown is True:
            # Unique per attribute: two different unknowns must never compare equal.
            return values if values not in (None, [], {}) else f"{UNKNOWN}: {where}"
        if isinstance(unknown, dict):
            values = dict(values) if isinstance(values, dict) else {}
            for k, u in unknown.items():
                values[k] = fill(values.get(k), u, f"{where}.{k}")
            return values
        if isinstance(unknown, list):
            values = list(values) if isinstance(values, list) else []
            values += [None] * (len(unknown) - len(values))
            return [
                fill(v, u, f"{where}[{i}]")
                for i, (v, u) in enumerate(zip(values, unknown, strict=False))
            ] + values[len(unknown) :]
        return values

    unknown_by_address = {
        rc["address"]: rc["change"].get("after_unknown") or {}
        for rc in plan.get("resource_changes", [])
    }
    for rc in plan.get("resource_changes", []):
        after = rc["change"].get("after")
        if isinstance(after, dict):
            rc["change"]["after"] = fill(after, unknown_by_address[rc["address"]], rc["address"])

    def walk(module: dict[str, Any]) -> None:
        for r in module.get("resources", []):
            r["values"] = fill(
                r.get("values", {}), unknown_by_address.get(r["address"], {}), r["address"]
            )
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan.get("planned_values", {}).get("root_module", {}))
    return plan


def moto_certificate(server: MotoServer, domain: str) -> str:
    """Request an ACM certificate from moto (the ALB listener needs one that exists there)."""
    import boto3

    acm = boto3.client(
        "acm",
        region_name="eu-west-1",
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn: str = acm.request_certificate(DomainName=domain)["CertificateArn"]
    return arn


def config_address(rc: dict[str, Any]) -> str:
    """A resource change's address without instance keys (how ``terraform graph`` names it)."""
    module = re.sub(r"\[[^\]]*\]", "", rc.get("module_address", ""))
    base = (
        f"{rc['type']}.{rc['name']}"
        if rc["mode"] == "managed"
        else f"data.{rc['type']}.{rc['name']}"
    )
    return f"{module}.{base}" if module else base


def graph_edges(workdir: Workdir) -> list[tuple[str, str]]:
    """``terraform graph`` as (dependent, dependency) pairs of config addresses."""
    dot = workdir.run("graph").stdout
    return re.findall(r'"([^"]+)" -> "([^"]+)"', dot)


def reachable(edges: list[tuple[str, str]], start: str) -> set[str]:
    """Everything ``start`` depends on, directly or transitively."""
    forward: dict[str, set[str]] = {}
    for src, dst in edges:
        forward.setdefault(src, set()).add(dst)
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in forward.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def dependents(workdir: Workdir, roots: set[str]) -> set[str]:
    """Config addresses that depend, directly or transitively, on any address in ``roots``."""
    reverse: dict[str, set[str]] = {}
    for src, dst in graph_edges(workdir):  # src depends on dst
        reverse.setdefault(dst, set()).add(src)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        for dep in reverse.get(node, ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@dataclass
class RootRun:
    """A root copied, initialised and planned against the account's moto server."""

    name: str
    workdir: Workdir
    moto: MotoServer
    plan: dict[str, Any]
    plan_args: tuple[str, ...] = ()
    apply_output: str | None = None
    second_plan: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def plan_file(self) -> Path:
        return self.workdir.path / "tfplan.json"

    @property
    def tree_root(self) -> Path:
        """The copy's repository root (parent of terraform/, openapi/, services/)."""
        return self.workdir.path.parents[1]

    def apply(self) -> str:
        """Apply once, with the apply-phase overrides in effect (exit 1 allowed: gaps are
        checked by the caller). Not the saved plan: that one predates the overrides."""
        with self._lock:
            if self.apply_output is None:
                modules = self.tree_root / "terraform" / "modules"
                for module, hcl in MOTO_APPLY_OVERRIDES.items():
                    (modules / module / "zz_moto_override.tf").write_text(hcl)
                proc = self.workdir.run(
                    "apply",
                    *self.plan_args,
                    "-input=false",
                    "-no-color",
                    "-auto-approve",
                    "-parallelism=20",
                    ok=(0, 1),
                    timeout=1800,
                )
                self.apply_output = proc.stdout + proc.stderr
            return self.apply_output

    def replan(self) -> dict[str, Any]:
        """The plan after the apply (once), which the tests require to be empty but for gaps."""
        with self._lock:
            if self.second_plan is None:
                self.second_plan = self.workdir.plan_json(
                    *self.plan_args, "-parallelism=20", out="tfplan-second"
                )
            return self.second_plan

    def outputs(self) -> dict[str, Any]:
        """``terraform output -json`` after the apply, as ``{name: value}``."""
        raw: dict[str, Any] = json.loads(self.workdir.run("output", "-json").stdout)
        return {k: v["value"] for k, v in raw.items()}

    def state(self) -> dict[str, Any]:
        """``terraform show -json`` of the state, shaped like a plan's ``planned_values``."""
        shown = json.loads(self.workdir.run("show", "-json").stdout)
        return {"planned_values": shown.get("values", {})}


_INIT_LOCK = threading.Lock()


def _var_file_args(tree: Path, target: layout.Target) -> tuple[str, ...]:
    """``-var-file`` for the target's data, as deploy.py passes them, in the copy."""
    rel = [p.relative_to(TERRAFORM_ROOT) for p in target.var_files()]
    return tuple(f"-var-file={tree / r}" for r in rel)


#: What the copy's `make lambda` output holds instead of the real 27 MB package: moto stores a
#: function's zip and never runs it (invoking needs Docker), and the real zip's handlers are
#: run by tests/serverless/test_lambda_zip.py.
STAND_IN_HANDLER = (
    '"""Stand-in for the Lambda zip in the Terraform tests (never invoked)."""\n\n\n'
    "def handler(event, context):\n"
    '    raise Exception("Unauthorized")\n'
)


def _lambda_args(tree: Path, name: str) -> tuple[str, ...]:
    """``-var`` for the copy's built Lambda zip (a stand-in), as deploy.py passes it."""
    target = layout.target(name, tree)
    if target.is_account:
        return ()
    target.lambda_package.parent.mkdir(parents=True, exist_ok=True)
    info = zipfile.ZipInfo("colonnade/gateway/authorizer.py", date_time=(2020, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(target.lambda_package, "w") as zf:
        zf.writestr(info, STAND_IN_HANDLER)
    return tuple(f"-var={k}={v}" for k, v in target.variables().items())


def prepare_root(
    name: str,
    toolchain: Toolchain,
    server: MotoServer,
    base: Path,
    *,
    phase1: bool = False,
    extra_args: tuple[str, ...] = (),
) -> RootRun:
    """Copy the tree, point a root at ``server``, init and plan it with its data.

    ``name`` is an environment or ``"account"``. With ``phase1``, also plans the first phase
    of ``deploy.py apply`` (``-target`` the bootstrap) before anything exists, into
    ``tfplan-phase1.json``. ``extra_args`` (``-var=...``) follow the environment's data, for a
    variant of it.
    """
    tree = copy_tree(base)
    target = layout.target(name, TERRAFORM_ROOT)
    root = tree / target.root.relative_to(TERRAFORM_ROOT)
    server.write_override(root, local_backend=True)
    if not target.is_account:
        domains = re.search(
            r'certificate_domain_names\s*=\s*\["([^"]+)"',
            (target.data_dir / layout.TFVARS).read_text(),
        )
        assert domains, f"{name}: no certificate_domain_names"
        # The certificate is account-specific, so it is never in the data; the README passes
        # it the same way (an untracked *.auto.tfvars or TF_VAR_).
        cert = moto_certificate(server, domains.group(1))
        (root / "zz_test.auto.tfvars.json").write_text(json.dumps({"certificate_arn": cert}))
    wd = Workdir(root, toolchain, timeout=1800)
    # One init at a time: the roots share a plugin cache, which Terraform does not make safe
    # for concurrent installs ("mkdir …/linux_amd64: file exists"); plans overlap.
    with _INIT_LOCK:
        wd.run("init", "-input=false", "-no-color", timeout=300)
    args = _var_file_args(tree, target) + _lambda_args(tree, name) + extra_args
    if phase1:
        targets = tuple(f"-target={t}" for t in layout.MIGRATION_TARGETS)
        wd.plan_json(*args, *targets, "-parallelism=20", out="tfplan-phase1")
    plan = wd.plan_json(*args, "-parallelism=20")
    return RootRun(name, wd, server, plan, args)


@pytest.fixture(scope="session")
def account_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server: one AWS account and Region for the account root and every environment."""
    server = start_moto(tmp_path_factory.mktemp("account-moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def account_run(
    toolchain: Toolchain, account_moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> RootRun:
    """The account root planned and applied: what every environment in the account relies on."""
    run = prepare_root(layout.ACCOUNT, toolchain, account_moto, tmp_path_factory.mktemp("account"))
    run.apply()
    return run


@pytest.fixture(scope="session")
def env_runs(
    toolchain: Toolchain,
    account_run: RootRun,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, RootRun]:
    """The environments planned in parallel against the account's moto server."""
    if not OPENAPI_DOCUMENT.is_file():
        pytest.fail(
            f"{OPENAPI_DOCUMENT.relative_to(REPO_ROOT)} is missing: the live root imports it as "
            "the API Gateway body (generate it with the OpenAPI generator)",
            pytrace=False,
        )
    bases = {env: tmp_path_factory.mktemp(f"env-{env}") for env in ENVIRONMENTS}
    # Terraform and moto mostly wait on each other, so three at once fit on two cores.
    with ThreadPoolExecutor(max_workers=len(ENVIRONMENTS)) as pool:
        futures = {
            env: pool.submit(
                prepare_root, env, toolchain, account_run.moto, bases[env], phase1=env == "dev"
            )
            for env in ENVIRONMENTS
        }
        runs: dict[str, RootRun] = {}
        errors: list[str] = []
        for env, fut in futures.items():
            try:
                runs[env] = fut.result()
            except BaseException as exc:  # report every environment's failure at once
                errors.append(f"{env}: {exc}")
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)
    return runs


@pytest.fixture(scope="session")
def applied_envs(env_runs: dict[str, RootRun]) -> dict[str, RootRun]:
    """The environments applied against the account's moto server, in parallel, then re-planned."""
    with ThreadPoolExecutor(max_workers=len(env_runs)) as pool:
        list(pool.map(lambda r: (r.apply(), r.replan()), env_runs.values()))
    return env_runs
