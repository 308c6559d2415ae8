"""Where the Terraform roots and each environment's data live: the one place that knows.

``scripts/deploy.py``, the release (which writes image digests), ``scripts/k8s_manifests.py``
and the tests all ask this module, so moving a file means changing one line here::

    terraform/
      live/                     the environment root (one copy of the code for every environment)
        services.auto.tfvars    the service topology, shared by every environment
      account/                  account-level resources (state bucket, ECR, API Gateway
                                account setting, DR vault)
        backend.hcl, terraform.tfvars
      environments/<env>/       one environment's data
        backend.hcl             its state key (the bucket is the account's)
        terraform.tfvars        its sizing and settings
        images.auto.tfvars.json {"image_digests": {"<service>": "sha256:…", "migrate": …}}
    build/lambda/               what `make lambda` builds (not in git): the zip the REST API's
                                Lambda authorizer runs, passed as ``-var lambda_package=``

The image file keeps the ``.auto.tfvars.json`` name it always had, but it is not in the root's
directory, so Terraform does not load it by itself: ``var_files`` lists it for ``-var-file``.
Likewise the Lambda zip is a build output, not data: ``variables`` names it (relative to the
root, so the state records the same path on every machine) when it has been built.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from colonnade_tools.lambda_zip import package_name

REPO_ROOT = Path(__file__).resolve().parents[3]
TERRAFORM_DIR = REPO_ROOT / "terraform"

LIVE_ROOT = "live"
ACCOUNT_ROOT = "account"
ENVIRONMENTS = "environments"
#: The target name that selects the account root instead of an environment.
ACCOUNT = "account"

BACKEND_CONFIG = "backend.hcl"
TFVARS = "terraform.tfvars"
IMAGE_FILE = "images.auto.tfvars.json"
#: The JSON key of the image file: {"image_digests": {"catalog": "sha256:…", …}}.
IMAGE_KEY = "image_digests"

#: What the first phase of `deploy.py <env> apply` applies (`-target`): the database bootstrap's
#: task definition with everything it needs (Aurora, the ECS cluster, its way into the
#: database), never a service.
#: Aurora is not a target: targeting it would pull in every service whose security group its
#: ingress rules name; it comes in as a dependency of the task's environment.
MIGRATION_TARGETS = (
    "module.platform.module.migrate",
    "module.platform.module.ecs_cluster",
    "module.platform.aws_vpc_security_group_ingress_rule.migrate_to_database",
)

#: Where `make lambda` writes its zips, relative to the repository (colonnade_tools.lambda_zip),
#: and the zip the live root's authorizer runs (the module's runtime and architecture).
LAMBDA_DIR = Path("build") / "lambda"
LAMBDA_PACKAGE = package_name("3.11", "x86_64")
#: The live root's variable that names it.
LAMBDA_VARIABLE = "lambda_package"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Target:
    """A Terraform root and the data one deployment of it uses."""

    name: str
    root: Path
    data_dir: Path

    @property
    def is_account(self) -> bool:
        """Whether this is the account root (no migrations, no images)."""
        return self.name == ACCOUNT

    @property
    def backend_config(self) -> Path:
        """The partial backend configuration passed to ``terraform init -backend-config``."""
        return self.data_dir / BACKEND_CONFIG

    @property
    def image_file(self) -> Path:
        """The file the release writes image digests into (environments only)."""
        return self.data_dir / IMAGE_FILE

    @property
    def lambda_package(self) -> Path:
        """Where the zip the environment's authorizer runs is built (environments only)."""
        return self.root.parent.parent / LAMBDA_DIR / LAMBDA_PACKAGE

    def variables(self) -> dict[str, str]:
        """``-var`` values for plan: the Lambda zip, relative to the root, once it is built.

        Without it the environment has no API Gateway authorizer (the plan says so in a
        warning), as before there was a package.
        """
        if self.is_account or not self.lambda_package.is_file():
            return {}
        return {LAMBDA_VARIABLE: os.path.relpath(self.lambda_package, self.root)}

    def var_files(self) -> list[Path]:
        """Variable files for plan, in order (those inside the root are loaded by Terraform)."""
        if self.data_dir == self.root:
            return []
        return [p for p in (self.data_dir / TFVARS, self.image_file) if p.is_file()]


def environment_names(terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """The environments that have data, sorted."""
    base = terraform_dir / ENVIRONMENTS
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / TFVARS).is_file())


def target(name: str, terraform_dir: Path = TERRAFORM_DIR) -> Target:
    """The account root (``name == "account"``) or the live root with an environment's data.

    Raises ``LookupError`` naming the known targets when there is no such environment.
    """
    if name == ACCOUNT:
        root = terraform_dir / ACCOUNT_ROOT
        return Target(name, root, root)
    data_dir = terraform_dir / ENVIRONMENTS / name
    if not (data_dir / TFVARS).is_file():
        known = [*environment_names(terraform_dir), ACCOUNT]
        raise LookupError(
            f"no environment {name!r}: {data_dir} has no {TFVARS} (known: {', '.join(known)})"
        )
    return Target(name, terraform_dir / LIVE_ROOT, data_dir)


def image_file(env: str, terraform_dir: Path = TERRAFORM_DIR) -> Path:
    """Path of ``env``'s image digest file (the release writes it)."""
    return target(env, terraform_dir).image_file


def read_image_digests(path: Path) -> dict[str, str]:
    """The ``image_digests`` map of an image file."""
    data = json.loads(path.read_text())
    digests = data.get(IMAGE_KEY)
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise ValueError(f"{path}: expected {{{IMAGE_KEY!r}: {{service: digest}}}}")
    return dict(digests)


def write_image_digests(path: Path, digests: dict[str, str]) -> None:
    """Write an image file (sorted, one entry per line) refusing anything but sha256 digests."""
    bad = {k: v for k, v in digests.items() if not _DIGEST.match(v)}
    if bad:
        raise ValueError(f"not sha256:<64 hex> digests: {bad}")
    path.write_text(json.dumps({IMAGE_KEY: dict(sorted(digests.items()))}, indent=2) + "\n")


def state_bucket_name(account_id: str, region: str, project: str = "colonnade") -> str:
    """The state bucket the account root creates: ``<project>-tfstate-<account>-<region>``."""
    return f"{project}-tfstate-{account_id}-{region}"
