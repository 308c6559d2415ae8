#!/usr/bin/env python3
"""Per-environment Terraform driver: ``scripts/deploy.py <env> plan|apply|output [-- extra args]``.

Runs Terraform (through python-terraform) in ``terraform/environments/<env>``:

* ``plan``   init, then ``plan -out=tfplan``; exit 0 (no changes) or 0 with changes shown.
* ``apply``  init, ``plan -out=tfplan``, ask for confirmation (``--yes`` skips it), then apply
             exactly that saved plan, so what is applied is what was shown.
* ``output`` ``output -json`` of the environment.

``--var-file FILE`` (repeatable) passes variable files to plan (``terraform.tfvars`` in the
environment directory is read by Terraform itself). ``--backend-config KEY=VALUE`` or
``--backend-config FILE`` (repeatable) goes to ``terraform init``: your account's state bucket
and region without editing the committed ``backend.tf``. Anything after ``--`` is passed through to
the plan/output command (``-target=...``, ``-var=...``, ``-lock-timeout=...``).

The Terraform CLI and the AWS provider are found by ``colonnade.deploy.toolchain``, the same code
the tests use: a local filesystem mirror when there is one (never downloading), the registry
otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "services"))

from colonnade.deploy.toolchain import ToolchainError, prepare_toolchain  # noqa: E402

ENVIRONMENTS_DIR = REPO_ROOT / "terraform" / "environments"
PLAN_FILE = "tfplan"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line; everything after ``--`` lands in ``extra``."""
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="deploy.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("env", help="environment name: a directory of terraform/environments/")
    parser.add_argument("action", choices=["plan", "apply", "output"])
    parser.add_argument(
        "--var-file", action="append", default=[], help="variable file for plan (repeatable)"
    )
    parser.add_argument(
        "--backend-config",
        action="append",
        default=[],
        metavar="KEY=VALUE|FILE",
        help="passed to `terraform init -backend-config` (repeatable), e.g. bucket=my-tfstate",
    )
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument(
        "--environments-dir",
        type=Path,
        default=Path(os.environ.get("COLONNADE_ENVIRONMENTS_DIR", ENVIRONMENTS_DIR)),
        help="where the environment roots live (default: terraform/environments)",
    )
    parser.add_argument(
        "--backend",
        choices=["true", "false"],
        default="true",
        help="initialise the environment's backend (false: local state, for dry runs)",
    )
    args = parser.parse_args(argv)
    args.extra = extra
    return args


def environment_dir(environments: Path, env: str) -> Path:
    """The environment's root directory, or SystemExit with a message listing the known ones."""
    path = environments / env
    if not (path.is_dir() and any(path.glob("*.tf"))):
        known = (
            sorted(p.name for p in environments.glob("*") if p.is_dir())
            if environments.is_dir()
            else []
        )
        hint = (
            f"known environments: {', '.join(known)}" if known else f"{environments} has none yet"
        )
        raise SystemExit(
            f"deploy.py: no environment {env!r}: {path} has no Terraform root ({hint})"
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the action; return the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    root = environment_dir(args.environments_dir, args.env)
    for var_file in args.var_file:
        if not (root / var_file).is_file() and not Path(var_file).is_file():
            raise SystemExit(f"deploy.py: var file {var_file} not found (relative to {root})")
    if args.backend_config and args.backend == "false":
        raise SystemExit("deploy.py: --backend-config configures the backend; drop --backend false")
    for item in args.backend_config:
        if "=" not in item and not (root / item).is_file() and not Path(item).is_file():
            raise SystemExit(
                f"deploy.py: --backend-config {item}: neither KEY=VALUE nor an existing file"
            )

    cache = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colonnade" / "terraform"
    )
    try:
        plugin_cache = Path(os.environ.get("TF_PLUGIN_CACHE_DIR") or cache / "plugin-cache")
        toolchain = prepare_toolchain(cache / "config", plugin_cache)
    except ToolchainError as exc:
        raise SystemExit(f"deploy.py: {exc}") from exc
    # python-terraform passes os.environ to every command it runs.
    os.environ.update(toolchain.env())

    from python_terraform import IsFlagged, IsNotFlagged, Terraform

    tf = Terraform(working_dir=str(root), terraform_bin_path=toolchain.terraform)
    print(
        f"deploy.py: {args.env} {args.action} in {root} ({toolchain.describe()})", file=sys.stderr
    )

    def run(cmd: str, *cmd_args: str, **options: object) -> int:
        # Colours for a person at a terminal, plain text for logs and CI.
        options.setdefault("no_color", IsNotFlagged if sys.stdout.isatty() else IsFlagged)
        code, _, _ = tf.cmd(cmd, *cmd_args, capture_output=False, **options)
        return int(code)

    if args.action == "output":
        return run("output", *args.extra, json=IsFlagged)

    code = run(
        "init",
        input=False,
        backend=args.backend == "true",
        backend_config=args.backend_config or None,
    )
    if code != 0:
        print("deploy.py: terraform init failed", file=sys.stderr)
        return code

    code = run(
        "plan",
        *args.extra,
        input=False,
        out=PLAN_FILE,
        var_file=args.var_file or None,
        detailed_exitcode=IsFlagged,
    )
    if code not in (0, 2):
        return code
    if args.action == "plan":
        return 0
    if code == 0:
        print("deploy.py: no changes to apply", file=sys.stderr)
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "deploy.py: refusing to apply without --yes when stdin is not a terminal",
                file=sys.stderr,
            )
            return 1
        if input(f"Apply this plan to {args.env}? Type 'yes': ").strip() != "yes":
            print("deploy.py: not applied", file=sys.stderr)
            return 1
    return run("apply", PLAN_FILE, input=False)


if __name__ == "__main__":
    sys.exit(main())
