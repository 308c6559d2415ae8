"""``colonnade-openapi``: OpenAPI 3.0, Swagger 2.0 or API Gateway documents from descriptor sets.

colonnade-openapi --format aws             # Colonnade's own services (the installed set)
colonnade-openapi --descriptors X.binpb --format openapi3 --out api.json

The committed documents in a checkout's ``openapi/`` are refreshed by ``make openapi``
(``colonnade_tools.openapi_docs``): an installed command knows no repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from colonnade.descriptors import descriptor_set
from colonnade.gateway.descriptors import DescriptorError
from colonnade.gateway.openapi import (
    FORMATS,
    Options,
    aws_import_problems,
    dumps,
    generate,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``colonnade-openapi``."""
    parser = argparse.ArgumentParser(prog="colonnade-openapi", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--descriptors",
        action="append",
        type=Path,
        help="a FileDescriptorSet (protoc --include_imports --include_source_info); repeatable",
    )
    parser.add_argument("--format", choices=FORMATS, default="openapi3")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--title", default=Options.title)
    parser.add_argument("--version", default=Options.version, dest="api_version")
    parser.add_argument("--server", action="append", help="a server URL (repeatable)")
    parser.add_argument("--vpc-link-stage-variable", default=Options.vpc_link_stage_variable)
    parser.add_argument("--backend-stage-variable", default=Options.backend_stage_variable)
    parser.add_argument("--backend-scheme", choices=("http", "https"), default="https")
    parser.add_argument("--no-api-key", action="store_true", help="aws: no API key requirement")
    parser.add_argument("--cognito-user-pool-arn", action="append", default=[])
    ns = parser.parse_args(argv)
    descriptors = ns.descriptors or [descriptor_set()]
    try:
        options = Options(
            title=ns.title,
            version=ns.api_version,
            servers=ns.server or Options().servers,
            vpc_link_stage_variable=ns.vpc_link_stage_variable,
            backend_stage_variable=ns.backend_stage_variable,
            backend_scheme=ns.backend_scheme,
            api_key_required=not ns.no_api_key,
            cognito_user_pool_arns=ns.cognito_user_pool_arn,
        )
        doc = generate(descriptors, ns.format, options)
    except (OSError, DescriptorError) as exc:
        print(f"colonnade-openapi: {exc}", file=sys.stderr)
        return 1
    if ns.format == "aws":
        problems = aws_import_problems(doc)
        if problems:
            print(
                "colonnade-openapi: API Gateway would reject:",
                *problems,
                sep="\n  ",
                file=sys.stderr,
            )
            return 1
    text = dumps(doc)
    if ns.out:
        ns.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
