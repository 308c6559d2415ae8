#!/usr/bin/env python3
"""Pin the image tag(s) an environment runs: the one supported way to roll out a new image.

    scripts/set_image_tags.py prod catalog=1.4.2 gateway=1.4.2
    scripts/deploy.py prod plan     # shows a new task definition revision per changed service
    scripts/deploy.py prod apply    # ECS rolls the tasks; the circuit breaker rolls back failures

The tags live in ``terraform/environments/<env>/images.auto.tfvars.json``, which Terraform reads
automatically, so the tag is part of the environment's committed configuration: the next plan
from any machine is empty, and ``git log`` on that file is the deployment history.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ENVIRONMENTS_ROOT = Path(__file__).resolve().parents[1] / "terraform" / "environments"
SERVICES = ("gateway", "catalog", "orders")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def tags_file(env: str) -> Path:
    """The JSON tfvars file holding ``image_tags`` for ``env``."""
    return ENVIRONMENTS_ROOT / env / "images.auto.tfvars.json"


def parse_assignment(text: str) -> tuple[str, str]:
    """``service=tag`` → ``(service, tag)``; raises ValueError naming what is wrong."""
    service, sep, tag = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r}: expected service=tag")
    if service not in SERVICES:
        raise ValueError(f"{service!r}: unknown service (one of {', '.join(SERVICES)})")
    if not TAG.match(tag) or tag == "latest":
        raise ValueError(f"{tag!r}: not a valid immutable image tag (and never 'latest')")
    return service, tag


def set_tags(env: str, assignments: dict[str, str]) -> dict[str, str]:
    """Update the environment's tags file in place and return the resulting tags."""
    path = tags_file(env)
    data = json.loads(path.read_text())
    tags: dict[str, str] = dict(data.get("image_tags", {}))
    tags.update(assignments)
    data["image_tags"] = {k: tags[k] for k in sorted(tags)}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data["image_tags"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "env", choices=sorted(p.name for p in ENVIRONMENTS_ROOT.iterdir() if p.is_dir())
    )
    parser.add_argument("assignments", nargs="+", metavar="service=tag")
    args = parser.parse_args(argv)
    try:
        pairs = dict(parse_assignment(a) for a in args.assignments)
    except ValueError as exc:
        parser.error(str(exc))
    tags = set_tags(args.env, pairs)
    print(f"{tags_file(args.env)}: {json.dumps(tags)}")
    print(f"next: scripts/deploy.py {args.env} plan && scripts/deploy.py {args.env} apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
