"""``make release ENV=…``: build the image, push it, pin its digest in the environment's data.

    colonnade-release ENV --repository 123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade
        [--services catalog,gateway,migrate] [--db-ca-bundle FILE] [--image REF]

1. The Amazon RDS CA bundle goes into ``image/certs/rds-ca-bundle.pem`` (from
   ``--db-ca-bundle`` or downloaded from AWS's truststore) after a check that every
   certificate in it is an Amazon RDS CA: an image without it cannot reach Aurora with
   ``sslmode=verify-full``, so the release refuses to go on without it.
2. The image is built (``colonnade_tools.image``) unless ``--image`` names one already
   built, and tagged with the git revision. A dirty work tree is refused: a release is
   a commit.
3. It is pushed to the repository. For ECR the engine logs in with a token from
   ``ecr:GetAuthorizationToken`` (boto3, the caller's AWS credentials); a loopback
   registry (tests, the rehearsal) needs no login and is spoken to over plain HTTP.
4. The digest the registry answered is written into the environment's image file for
   each service, so the next plan pins ``repository@sha256:…``, never a mutable tag.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from colonnade_tools.containers import ContainerError, Engine, find_engine
from colonnade_tools.image import ROOT, build_image, git_revision

RDS_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
#: Where the build context keeps the bundle (the Dockerfile copies image/certs/).
RDS_BUNDLE = Path("image") / "certs" / "rds-ca-bundle.pem"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
SERVICES = ("catalog", "gateway", "migrate")


class ReleaseError(RuntimeError):
    """The release cannot go on; the message says what to do."""


def check_rds_bundle(path: Path, *, organizational_unit: str = "Amazon RDS") -> int:
    """The number of CA certificates in ``path``; ReleaseError unless all are RDS CAs."""
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise ReleaseError(f"{path}: not a PEM certificate bundle ({exc})") from exc
    certificates = context.get_ca_certs()
    if not certificates:
        raise ReleaseError(f"{path}: holds no certificates")
    for cert in certificates:
        subject = {pair[0]: pair[1] for rdn in cert["subject"] for pair in rdn}
        if subject.get("organizationalUnitName") != organizational_unit:
            raise ReleaseError(
                f"{path}: {subject.get('commonName', subject)!r} is not an "
                f"{organizational_unit} CA certificate"
            )
    return len(certificates)


def fetch_rds_bundle(target: Path, source: Path | None = None) -> int:
    """Put the RDS CA bundle at ``target`` (from ``source`` or AWS) and return its size."""
    if source is not None:
        data = source.read_bytes()
    else:
        try:
            with urllib.request.urlopen(RDS_BUNDLE_URL, timeout=30) as response:
                data = response.read()
        except OSError as exc:
            raise ReleaseError(
                f"cannot download the RDS CA bundle from {RDS_BUNDLE_URL} ({exc}); "
                "download it elsewhere and pass --db-ca-bundle FILE"
            ) from exc
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".pem", delete=False) as tmp:
        tmp.write(data)
    staged = Path(tmp.name)
    try:
        count = check_rds_bundle(staged)
    except ReleaseError:
        staged.unlink()
        raise
    staged.chmod(0o644)  # the image copies the mode, and its user is not root
    staged.replace(target)
    return count


def registry_host(repository: str) -> str:
    """``host[:port]`` of ``host[:port]/path``."""
    host, _, path = repository.partition("/")
    if not path or ("." not in host and ":" not in host and host != "localhost"):
        raise ReleaseError(
            f"--repository {repository!r} must be REGISTRY/NAME, e.g. "
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade"
        )
    return host


def is_loopback(host: str) -> bool:
    return host.rsplit(":", 1)[0] in LOOPBACK_HOSTS


def ecr_login(engine: Engine, host: str) -> None:
    """Log the engine in to an ECR registry with a GetAuthorizationToken token."""
    match = ECR_HOST.match(host)
    if match is None:
        return
    import boto3

    account, region = match.groups()
    client = boto3.client("ecr", region_name=region)
    data = client.get_authorization_token(registryIds=[account])["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    done = subprocess.run(
        engine.command("login", "--username", user, "--password-stdin", host),
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ReleaseError(f"{engine.name} login {host} failed: {done.stderr.strip()}")


def push(engine: Engine, local_ref: str, remote_ref: str) -> str:
    """Push ``local_ref`` as ``remote_ref``; return the digest the registry stored."""
    engine.run("tag", local_ref, remote_ref)
    host = registry_host(remote_ref)
    tls = ["--tls-verify=false"] if engine.name == "podman" and is_loopback(host) else []
    with tempfile.TemporaryDirectory() as tmp:
        digest_file = Path(tmp) / "digest"
        if engine.name == "podman":
            engine.run("push", *tls, "--digestfile", str(digest_file), remote_ref, timeout=1800)
            digest = digest_file.read_text().strip()
        else:
            out = engine.run("push", remote_ref, timeout=1800).stdout
            found = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
            digest = found.group(1) if found else ""
    if not DIGEST.match(digest):
        raise ReleaseError(f"the registry did not report a digest for {remote_ref}: {digest!r}")
    return digest


def write_digests(image_file: Path, services: Sequence[str], digest: str) -> dict[str, str]:
    """Set ``image_digests[service] = digest`` for each service; keep the other services'.

    Writes through :func:`colonnade_tools.deploy.layout.write_image_digests`, which accepts only
    ``sha256:`` digests: a service still on a tag (before its first release) must be part of
    this release, or :class:`ReleaseError` names it and nothing is written.
    """
    from colonnade_tools.deploy import layout

    current = layout.read_image_digests(image_file) if image_file.exists() else {}
    pinned = {**current, **dict.fromkeys(services, digest)}
    tagged = sorted(k for k, v in pinned.items() if not DIGEST.match(v))
    if tagged:
        raise ReleaseError(
            f"{image_file}: {', '.join(tagged)} still run a tag; release them too "
            f"(--services {','.join(sorted({*services, *tagged}))})"
        )
    layout.write_image_digests(image_file, pinned)
    return dict(sorted(pinned.items()))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="colonnade-release", description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="the environment whose image file gets the digests")
    parser.add_argument("--repository", required=True, help="REGISTRY/NAME to push to")
    parser.add_argument(
        "--image-file",
        type=Path,
        help="the image file to write (default: the environment's, from deploy.layout)",
    )
    parser.add_argument(
        "--services",
        default=",".join(SERVICES),
        help=f"which services get the new digest (default: {','.join(SERVICES)})",
    )
    parser.add_argument("--db-ca-bundle", type=Path, help="the RDS CA bundle, if not downloaded")
    parser.add_argument(
        "--allow-dirty", action="store_true", help="release uncommitted changes (tests only)"
    )
    return parser.parse_args(argv)


def release(
    args: argparse.Namespace, engine: Engine | None = None, root: Path = ROOT
) -> tuple[str, str]:
    """Run the release from the checkout at ``root``; return (remote reference, digest)."""
    engine = engine or find_engine()
    services = [s.strip() for s in args.services.split(",") if s.strip()]
    host = registry_host(args.repository)
    if git_revision(root).endswith("-dirty") and not args.allow_dirty:
        raise ReleaseError("the work tree has uncommitted changes: commit, then release")
    count = fetch_rds_bundle(root / RDS_BUNDLE, source=args.db_ca_bundle)
    print(f"release: RDS CA bundle with {count} certificates in {RDS_BUNDLE}", file=sys.stderr)
    built = build_image(engine=engine, root=root)
    ecr_login(engine, host)
    remote = f"{args.repository}:{built.revision}"
    digest = push(engine, built.ref, remote)
    from colonnade_tools.deploy import layout

    image_file = args.image_file or layout.image_file(args.env)
    written = write_digests(image_file, services, digest)
    print(f"release: pushed {remote} as {digest}", file=sys.stderr)
    print(f"release: {image_file} now pins {json.dumps(written)}", file=sys.stderr)
    return remote, digest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        _, digest = release(args)
    except (ReleaseError, ContainerError) as exc:
        print(f"colonnade-release: {exc}", file=sys.stderr)
        return 1
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
