#!/usr/bin/env python3
"""Terraform driver: ``scripts/deploy.py <env|account> <action> [-- extra args]``.

``<env>`` runs the one environment root, ``terraform/live``, with that environment's data
(``terraform/environments/<env>/``: ``backend.hcl`` to ``init -backend-config``,
``terraform.tfvars`` and ``images.auto.tfvars.json`` to ``plan -var-file``; the zip ``make lambda``
builds to ``plan -var lambda_package=``, for the API Gateway authorizer); ``account`` runs
``terraform/account`` (account-level resources). ``colonnade_tools.deploy.layout`` knows the paths.

* ``plan``    init, then ``plan -out=tfplan``.
* ``apply``   for an environment, in two phases so that no service starts a new image before its
              schema exists: (1) plan and apply only the database bootstrap's task definition and
              what it needs (``-target`` each of ``layout.MIGRATION_TARGETS``: the ``migrate``
              task definition and its way into the database, the ECS cluster; Aurora and the
              network come as dependencies; never a service); (2) plan everything,
              and once that plan is confirmed run the bootstrap (``ecs run-task``, waiting for
              exit code 0), then apply it. Each phase applies exactly the saved plan it showed,
              after confirmation (``--yes`` skips it). ``--skip-migration`` leaves the task
              out. For ``account``, one plan and apply.
* ``output``  ``output -json``.
* ``bootstrap`` (``account`` only) the first run in a new account: create the state bucket with
              local state, then move that state into it (``init -migrate-state``).

The state bucket is ``colonnade-tfstate-<account id>-<region>`` (the account root creates it);
``deploy.py`` derives it from the credentials in use unless ``--backend-config bucket=...`` is
given. ``--var-file`` and ``--backend-config`` add to the environment's own; anything after ``--``
goes to plan/output (``-var=...``, ``-lock-timeout=...``).

The Terraform CLI and the AWS provider are found by ``colonnade_tools.deploy.toolchain``, the
same code the tests use. Run it with the checkout's virtualenv (``make venv`` installs
colonnade-tools there), so no import path is patched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from colonnade_tools.deploy import layout
from colonnade_tools.deploy.migrate import MigrateTask, MigrationFailed, run_migration
from colonnade_tools.deploy.toolchain import ToolchainError, prepare_toolchain

PLAN_FILE = "tfplan"
MIGRATION_PLAN_FILE = "tfplan-migrate"
LOCAL_BACKEND_OVERRIDE = "zz_bootstrap_local_backend_override.tf"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line; everything after ``--`` lands in ``extra``."""
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="deploy.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("env", help="an environment of terraform/environments/, or 'account'")
    parser.add_argument("action", choices=["plan", "apply", "output", "bootstrap"])
    parser.add_argument(
        "--var-file", action="append", default=[], help="extra variable file for plan"
    )
    parser.add_argument(
        "--backend-config",
        action="append",
        default=[],
        metavar="KEY=VALUE|FILE",
        help="added to `terraform init -backend-config` (repeatable), e.g. bucket=my-tfstate",
    )
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument(
        "--skip-migration",
        action="store_true",
        help="apply without running the database bootstrap task (it has already run)",
    )
    parser.add_argument(
        "--terraform-dir",
        type=Path,
        default=Path(os.environ.get("COLONNADE_TERRAFORM_DIR", layout.TERRAFORM_DIR)),
        help="the terraform/ tree (default: this repository's)",
    )
    parser.add_argument(
        "--backend",
        choices=["true", "false"],
        default="true",
        help="initialise the root's backend (false: local state, for dry runs)",
    )
    args = parser.parse_args(argv)
    args.extra = extra
    return args


class Driver:
    """Terraform commands in one root, through python-terraform."""

    def __init__(self, args: argparse.Namespace, target: layout.Target) -> None:
        cache = (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            / "colonnade"
            / "terraform"
        )
        try:
            plugin_cache = Path(os.environ.get("TF_PLUGIN_CACHE_DIR") or cache / "plugin-cache")
            toolchain = prepare_toolchain(cache / "config", plugin_cache)
        except ToolchainError as exc:
            raise SystemExit(f"deploy.py: {exc}") from exc
        # python-terraform passes os.environ to every command it runs.
        os.environ.update(toolchain.env())
        from python_terraform import IsFlagged, IsNotFlagged, Terraform

        self.flagged, self.not_flagged = IsFlagged, IsNotFlagged
        self.tf = Terraform(working_dir=str(target.root), terraform_bin_path=toolchain.terraform)
        self.args = args
        self.target = target
        print(
            f"deploy.py: {target.name} {args.action} in {target.root} ({toolchain.describe()})",
            file=sys.stderr,
        )

    def run(self, cmd: str, *cmd_args: str, capture: bool = False, **options: Any) -> Any:
        """Run a Terraform command; the exit code, or (code, stdout) when capturing."""
        # Colours for a person at a terminal, plain text for logs and CI.
        options.setdefault("no_color", self.not_flagged if sys.stdout.isatty() else self.flagged)
        code, out, err = self.tf.cmd(cmd, *cmd_args, capture_output=capture, **options)
        if capture:
            if code != 0:
                sys.stderr.write(err or "")
            return int(code), out or ""
        return int(code)

    def init(self, backend_config: list[str] | None = None, **options: Any) -> int:
        """``terraform init`` with the target's backend configuration."""
        use_backend = self.args.backend == "true"
        configs: list[str] = []
        if use_backend:
            configs = backend_config if backend_config is not None else self.backend_config()
            # One root serves every environment: its .terraform/ remembers the last backend.
            if "migrate_state" not in options:
                options.setdefault("reconfigure", self.flagged)
        return int(
            self.run(
                "init", input=False, backend=use_backend, backend_config=configs or None, **options
            )
        )

    def backend_config(self) -> list[str]:
        """The target's backend.hcl, the account's bucket, then the user's settings."""
        configs: list[str] = []
        # A backend.hcl means the partial S3 backend of terraform/live and terraform/account,
        # whose bucket is the account's.
        if self.target.backend_config.is_file():
            configs.append(str(self.target.backend_config))
            if not any(c.startswith("bucket=") for c in self.args.backend_config):
                configs.append(f"bucket={derived_bucket(self.target)}")
        return configs + list(self.args.backend_config)

    def plan(self, out: str, *extra: str) -> int:
        """``plan -out`` with the target's and the user's variable files and the built Lambda
        zip (exit 0: no changes, 2: changes)."""
        var_files = [str(p) for p in self.target.var_files()] + list(self.args.var_file)
        variables = [f"-var={k}={v}" for k, v in self.target.variables().items()]
        if not self.target.is_account and not variables:
            print(
                f"deploy.py: no {self.target.lambda_package} (run `make lambda`): planning "
                f"{self.target.name} without the API Gateway authorizer",
                file=sys.stderr,
            )
        return int(
            self.run(
                "plan",
                *extra,
                *variables,
                *self.args.extra,
                input=False,
                out=out,
                var_file=var_files or None,
                detailed_exitcode=self.flagged,
            )
        )

    def confirm(self, what: str) -> bool:
        """Ask before applying (unless --yes); never without a terminal."""
        if self.args.yes:
            return True
        if not sys.stdin.isatty():
            print(
                "deploy.py: refusing to apply without --yes when stdin is not a terminal",
                file=sys.stderr,
            )
            return False
        if input(f"Apply {what} to {self.target.name}? Type 'yes': ").strip() != "yes":
            print("deploy.py: not applied", file=sys.stderr)
            return False
        return True

    def confirm_and_apply(self, plan_file: str, what: str) -> int:
        """Ask, then apply exactly the saved plan."""
        if not self.confirm(what):
            return 1
        return int(self.run("apply", plan_file, input=False))

    def output(self, name: str) -> Any:
        """One output's value (``terraform output -json <name>``)."""
        code, out = self.run("output", name, capture=True, json=self.flagged)
        if code != 0:
            raise SystemExit(f"deploy.py: `terraform output {name}` failed")
        return json.loads(out)


def derived_bucket(target: layout.Target) -> str:
    """The account's state bucket, from the credentials in use and the backend's Region."""
    import boto3

    region = "eu-west-1"
    if target.backend_config.is_file():
        for line in target.backend_config.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "region":
                region = value.strip().strip('"')
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    return layout.state_bucket_name(account, region)


def check_args(args: argparse.Namespace, target: layout.Target) -> None:
    """Refuse what cannot work before running anything."""
    for var_file in args.var_file:
        if not (target.root / var_file).is_file() and not Path(var_file).is_file():
            raise SystemExit(
                f"deploy.py: var file {var_file} not found (relative to {target.root})"
            )
    if args.backend_config and args.backend == "false":
        raise SystemExit("deploy.py: --backend-config configures the backend; drop --backend false")
    for item in args.backend_config:
        if "=" not in item and not (target.root / item).is_file() and not Path(item).is_file():
            raise SystemExit(
                f"deploy.py: --backend-config {item}: neither KEY=VALUE nor an existing file"
            )
    if args.action == "bootstrap" and not target.is_account:
        raise SystemExit("deploy.py: bootstrap creates the state bucket: run it for 'account'")


def apply_environment(driver: Driver, args: argparse.Namespace) -> int:
    """Phase 1 (bootstrap task and what it needs), the bootstrap run, phase 2 (everything)."""
    targets = [f"-target={t}" for t in layout.MIGRATION_TARGETS]
    code = driver.plan(MIGRATION_PLAN_FILE, *targets)
    if code not in (0, 2):
        return code
    phase1_changed = code == 2
    if phase1_changed:
        code = driver.confirm_and_apply(MIGRATION_PLAN_FILE, "the database bootstrap's resources")
        if code != 0:
            return code

    code = driver.plan(PLAN_FILE)
    if code not in (0, 2):
        return code
    phase2_changed = code == 2
    if not (phase1_changed or phase2_changed):
        print("deploy.py: no changes to apply", file=sys.stderr)
        return 0
    # Confirm the rollout before the bootstrap runs; the plan stays valid (the bootstrap
    # changes the database, not Terraform's state).
    if phase2_changed and not driver.confirm("this plan"):
        return 1

    if not args.skip_migration:
        import boto3

        task = MigrateTask.from_output(driver.output("migrate_task"))
        ecs = boto3.client("ecs", region_name=task.region)
        try:
            run_migration(ecs, task, log=lambda line: print(f"deploy.py: {line}", file=sys.stderr))
        except MigrationFailed as exc:
            print(f"deploy.py: {exc}; the services were not rolled", file=sys.stderr)
            return 1

    if not phase2_changed:
        return 0
    return int(driver.run("apply", PLAN_FILE, input=False))


def bootstrap_account(driver: Driver, target: layout.Target) -> int:
    """Create the state bucket with local state, then move the state into it."""
    override = target.root / LOCAL_BACKEND_OVERRIDE
    override.write_text('terraform {\n  backend "local" {}\n}\n')
    try:
        code = driver.init(backend_config=[], reconfigure=driver.flagged)
        if code == 0:
            code = driver.plan(PLAN_FILE, "-target=module.state")
            if code == 2:
                code = driver.confirm_and_apply(PLAN_FILE, "the state bucket")
        if code != 0:
            return code
        bucket = driver.output("state_bucket")
    finally:
        override.unlink()
    configs = [c for c in driver.backend_config() if not c.startswith("bucket=")]
    code = driver.init(
        backend_config=[*configs, f"bucket={bucket}"],
        migrate_state=driver.flagged,
        force_copy=driver.flagged,
    )
    if code == 0:
        # The state now lives in the bucket; a local copy left here would make every later
        # init offer to migrate it again.
        local = target.root / "terraform.tfstate"
        if local.exists():
            kept = local.with_name("terraform.tfstate.bootstrap-local")
            local.replace(kept)
            print(
                f"deploy.py: the state is in s3://{bucket}; the local copy is {kept}",
                file=sys.stderr,
            )
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the action; return the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        target = layout.target(args.env, args.terraform_dir)
    except LookupError as exc:
        raise SystemExit(f"deploy.py: {exc}") from exc
    check_args(args, target)
    driver = Driver(args, target)

    if args.action == "output":
        return int(driver.run("output", *args.extra, json=driver.flagged))
    if args.action == "bootstrap":
        return bootstrap_account(driver, target)

    code = driver.init()
    if code != 0:
        print("deploy.py: terraform init failed", file=sys.stderr)
        return code
    if args.action == "apply" and not target.is_account:
        return apply_environment(driver, args)

    code = driver.plan(PLAN_FILE)
    if code not in (0, 2):
        return code
    if args.action == "plan":
        return 0
    if code == 0:
        print("deploy.py: no changes to apply", file=sys.stderr)
        return 0
    return driver.confirm_and_apply(PLAN_FILE, "this plan")


if __name__ == "__main__":
    sys.exit(main())
