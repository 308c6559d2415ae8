"""Find the Terraform CLI and the AWS provider, and write the CLI config that uses them.

One place for the logic that both ``scripts/deploy.py`` and ``tests/terraform`` need:

* the Terraform binary: ``$COLONNADE_TERRAFORM``, else ``terraform`` on ``PATH``;
* a filesystem mirror holding ``registry.terraform.io/hashicorp/aws``:
  ``$COLONNADE_TF_PLUGIN_MIRROR``, else ``/opt/tf-plugins``, else ``~/.terraform.d/plugins``.
  With a mirror, the CLI config installs hashicorp/aws from it only, never from the network;
  without one, Terraform uses the public registry as usual (a machine with internet).

Nothing here downloads anything.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
MIRROR_ENV = "COLONNADE_TF_PLUGIN_MIRROR"
TERRAFORM_ENV = "COLONNADE_TERRAFORM"
DEFAULT_MIRRORS = (Path("/opt/tf-plugins"), Path.home() / ".terraform.d" / "plugins")


class ToolchainError(RuntimeError):
    """The Terraform CLI or the AWS provider is missing; the message says what to install."""


def find_terraform() -> str:
    """Return the path of the Terraform CLI or raise :class:`ToolchainError` naming the fix."""
    override = os.environ.get(TERRAFORM_ENV)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise ToolchainError(f"${TERRAFORM_ENV}={override} is not an executable file")
        return override
    found = shutil.which("terraform")
    if found is None:
        raise ToolchainError(
            "the Terraform CLI (>= 1.6) is not on PATH: install it from "
            "https://developer.hashicorp.com/terraform/install or point "
            f"${TERRAFORM_ENV} at the binary"
        )
    return found


def mirror_has_aws(path: Path) -> bool:
    """Whether ``path`` is a filesystem mirror holding at least one hashicorp/aws version."""
    provider_dir = path / AWS_PROVIDER
    return provider_dir.is_dir() and any(provider_dir.iterdir())


def find_provider_mirror() -> Path | None:
    """Return the filesystem mirror that holds hashicorp/aws, or None to use the registry.

    An explicit ``$COLONNADE_TF_PLUGIN_MIRROR`` that does not hold the provider is an error
    rather than a silent fall-back to the network.
    """
    override = os.environ.get(MIRROR_ENV)
    if override:
        path = Path(override).expanduser()
        if not mirror_has_aws(path):
            raise ToolchainError(
                f"${MIRROR_ENV}={override} holds no {AWS_PROVIDER}: fill it with "
                f"`terraform providers mirror {override}` on a machine with internet"
            )
        return path
    for candidate in DEFAULT_MIRRORS:
        if mirror_has_aws(candidate):
            return candidate
    return None


def cli_config_text(mirror: Path | None, plugin_cache_dir: Path | None = None) -> str:
    """The text of a Terraform CLI config file (HCL) for the given mirror and plugin cache."""
    lines: list[str] = []
    if plugin_cache_dir is not None:
        lines.append(f'plugin_cache_dir = "{plugin_cache_dir.as_posix()}"')
    if mirror is not None:
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{mirror.as_posix()}"',
            f'    include = ["{AWS_PROVIDER}"]',
            "  }",
            "  direct {",
            f'    exclude = ["{AWS_PROVIDER}"]',
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Toolchain:
    """A located Terraform CLI plus the environment that makes it use our CLI config."""

    terraform: str
    mirror: Path | None
    cli_config: Path
    plugin_cache_dir: Path | None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment variables for running Terraform non-interactively with this toolchain."""
        env = dict(os.environ if base is None else base)
        env["TF_CLI_CONFIG_FILE"] = str(self.cli_config)
        env["TF_IN_AUTOMATION"] = "1"
        env["TF_INPUT"] = "0"
        env["CHECKPOINT_DISABLE"] = "1"
        if self.plugin_cache_dir is not None:
            env["TF_PLUGIN_CACHE_DIR"] = str(self.plugin_cache_dir)
        return env

    def describe(self) -> str:
        """One line saying where the provider comes from, for error messages and logs."""
        source = f"filesystem mirror {self.mirror}" if self.mirror else "the public registry"
        return f"terraform={self.terraform}, hashicorp/aws from {source}"


def prepare_toolchain(config_dir: Path, plugin_cache_dir: Path | None = None) -> Toolchain:
    """Locate Terraform and the provider mirror and write ``config_dir/terraform.rc``.

    Raises :class:`ToolchainError` when the CLI is missing or an explicit mirror is empty.
    """
    terraform = find_terraform()
    mirror = find_provider_mirror()
    config_dir.mkdir(parents=True, exist_ok=True)
    if plugin_cache_dir is not None:
        plugin_cache_dir.mkdir(parents=True, exist_ok=True)
    cli_config = config_dir / "terraform.rc"
    cli_config.write_text(cli_config_text(mirror, plugin_cache_dir))
    return Toolchain(terraform, mirror, cli_config, plugin_cache_dir)


def provider_missing_hint(toolchain: Toolchain) -> str:
    """What to do when ``terraform init`` could not install hashicorp/aws."""
    looked = ", ".join(str(p) for p in DEFAULT_MIRRORS)
    if toolchain.mirror is not None:
        return (
            f"{AWS_PROVIDER} ~> 5.100 is not in the mirror {toolchain.mirror}: add it with "
            f"`terraform providers mirror {toolchain.mirror}` on a machine with internet"
        )
    return (
        f"{AWS_PROVIDER} ~> 5.100 could not be installed: no filesystem mirror was found "
        f"(${MIRROR_ENV} unset; looked in {looked}) and the registry was not reachable. "
        f"Create a mirror with `terraform providers mirror DIR` and set ${MIRROR_ENV}=DIR"
    )
