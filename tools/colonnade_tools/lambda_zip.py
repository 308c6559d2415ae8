"""``make lambda``: the AWS Lambda deployment package, a zip built on this machine.

    python -m colonnade_tools.lambda_zip [--python-version 3.11] [--arch x86_64] [--out DIR]

The runtime dependencies are requirements/image.txt's hash-pinned set (what the container
image installs), installed for the target with
``pip install --platform manylinux<glibc>_<arch> --only-binary=:all: --python-version <v>
--implementation cp --target``: binary wheels for Lambda's Amazon Linux whatever this
machine is, no build in a Lambda-like container. Left out: boto3 and its dependencies, which
every Python managed runtime provides (only ``DB_IAM_AUTH`` uses them) and which would be
most of the package. Then the colonnade package with its data (migrations, the descriptor
set, the web UI), and, when an interpreter of the target's version is here (this one, or
``python3.12`` on the PATH), the bytecode compiled ahead (``unchecked-hash`` .pyc: Lambda's
/var/task is read-only, so bytecode not shipped is compiled again at every cold start).

Handlers in the zip: ``colonnade.serverless.handler`` (the API) and
``colonnade.gateway.authorizer.handler`` (the REST API's Lambda authorizer).

``certs/amazon-root-cas.pem`` is the function's ``sslrootcert``: RDS Proxy presents an ACM
certificate, which chains to Amazon Trust Services' roots (Amazon Root CA 1-4, and the
Starfield Services root that cross-signs them), not to the RDS CAs the containers trust for
Aurora itself. They are taken from certifi (Mozilla's store, hash-pinned in the dev lock) by
name, and the build fails if one is missing.

The zip is written to ``build/lambda/colonnade-lambda-py<v>-<arch>.zip`` with a key of its
inputs (the pins, the sources, this file, the target) beside it: a second build with the
same inputs reuses it. Entries are sorted with fixed timestamps, so the same inputs give
the same bytes. The sizes are checked against Lambda's limits for a direct upload: 50 MB
zipped, 250 MB unzipped.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements" / "image.txt"
PACKAGE = ROOT / "services" / "colonnade"
OUT = ROOT / "build" / "lambda"
#: In every Python managed runtime already (AWS "Lambda runtimes": the SDK for Python).
PROVIDED_BY_RUNTIME = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)
PACKAGE_DATA = (".py", ".pyi", ".sql", ".binpb", ".html", ".js", ".css", ".typed", ".json")
ZIPPED_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024
#: The roots of ACM's certificates (Amazon Trust Services), which RDS Proxy presents.
PROXY_ROOTS = (
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
)
PROXY_CA_FILE = "certs/amazon-root-cas.pem"
PYTHONS = ("3.11", "3.12", "3.13")
#: The glibc each Python runtime's OS has, as manylinux tags (AWS "Lambda runtimes"): Python
#: 3.11 runs on Amazon Linux 2 (glibc 2.26: manylinux2014, i.e. 2.17), 3.12 and later on
#: Amazon Linux 2023 (glibc 2.34), which also takes the wheels built for 2.28 (asyncpg 0.32
#: publishes its cp312 wheels only as manylinux_2_28).
GLIBC_TAGS = {
    "3.11": ("2014",),
    "3.12": ("2014", "_2_28", "_2_34"),
    "3.13": ("2014", "_2_28", "_2_34"),
}
ARCHES = ("x86_64", "aarch64")
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


class LambdaBuildError(RuntimeError):
    """The package cannot be built as asked (names the setting or the limit)."""


@dataclass(frozen=True)
class Built:
    path: Path
    zipped: int
    unzipped: int
    reused: bool

    def summary(self) -> str:
        mb = 1024 * 1024
        return (
            f"{self.path} ({'reused, ' if self.reused else ''}"
            f"{self.zipped / mb:.1f} MB zipped of Lambda's 50 MB, "
            f"{self.unzipped / mb:.1f} MB unzipped of 250 MB)"
        )


def runtime_requirements(text: str) -> str:
    """requirements/image.txt without the packages the Lambda runtime provides."""
    blocks = re.split(r"\n(?=[a-z0-9])", text)
    kept = []
    for block in blocks:
        name = re.split(r"[=\s\[]", block.strip(), maxsplit=1)[0].lower()
        if block.startswith("#") or name not in PROVIDED_BY_RUNTIME:
            kept.append(block)
    return "\n".join(kept).strip() + "\n"


def ca_names(context: ssl.SSLContext) -> list[str]:
    """The common names of the CAs ``context`` trusts, as OpenSSL read them."""
    names: list[str] = []
    for cert in context.get_ca_certs():
        subject = cast("tuple[tuple[tuple[str, str], ...], ...]", cert["subject"])
        names += [value for rdn in subject for key, value in rdn if key == "commonName"]
    return names


def proxy_root_cas() -> bytes:
    """PEM of PROXY_ROOTS, in that order, from certifi's bundle; LambdaBuildError if one is
    not there."""
    import certifi

    # certifi's entries: a "# Label: "<name>"" comment (and others), then the PEM.
    entry = re.compile(
        r'^# Label: "([^"]+)"\n(?:#[^\n]*\n)*'
        r"(-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n)",
        re.S | re.M,
    )
    bundle = Path(certifi.where()).read_text()
    found = {name: pem for name, pem in entry.findall(bundle) if name in PROXY_ROOTS}
    missing = [n for n in PROXY_ROOTS if n not in found]
    if missing:
        raise LambdaBuildError(f"certifi's bundle ({certifi.where()}) lacks {missing}")
    pems = "".join(f"# {n}\n{found[n]}" for n in PROXY_ROOTS)
    # The labels name what the certificates are: OpenSSL reads them back (and the Starfield
    # root's serial number 0, which `cryptography` is deprecating, is no matter to it).
    context = ssl.create_default_context(cadata=pems)
    subjects = ca_names(context)
    if subjects != list(PROXY_ROOTS):
        raise LambdaBuildError(f"certifi's labels do not match the certificates: {subjects}")
    return pems.encode()


def _sources() -> list[Path]:
    return sorted(
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix in PACKAGE_DATA and "__pycache__" not in p.parts
    )


def inputs_key(python: str, arch: str) -> str:
    """The sha256 of everything the zip is made of."""
    h = hashlib.sha256(f"{python}/{arch}/{target_python(python) is not None}".encode())
    for path in (REQUIREMENTS, Path(__file__), *_sources()):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    h.update(proxy_root_cas())
    return h.hexdigest()


def _pip_install(requirements: Path, target: Path, python: str, arch: str) -> None:
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--require-hashes", "--no-deps", "--only-binary=:all:",
        *(a for tag in GLIBC_TAGS[python] for a in ("--platform", f"manylinux{tag}_{arch}")),
        "--python-version", python,
        "--implementation", "cp", "--target", str(target), "-r", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LambdaBuildError(f"pip install for Python {python} {arch} failed:\n{result.stderr}")


def _copy_package(target: Path) -> None:
    for src in _sources():
        dest = target / "colonnade" / src.relative_to(PACKAGE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def _prune(target: Path) -> None:
    """What a function never runs: console scripts, caches. The .dist-info directories stay:
    OpenTelemetry finds its context and propagators through their entry points."""
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def target_python(python: str) -> str | None:
    """An interpreter of the target's version here (bytecode is per version), or None."""
    if python == f"{sys.version_info[0]}.{sys.version_info[1]}":
        return sys.executable
    found = shutil.which(f"python{python}")
    if found is None:
        return None
    # A version manager's shim is on the PATH whether or not that version is installed.
    probe = subprocess.run(
        [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found if probe.returncode == 0 and probe.stdout.strip() == python else None


def _compile(interpreter: str, target: Path) -> None:
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0",
         "--invalidation-mode", "unchecked-hash", str(target)],
        check=True, capture_output=True,
    )  # fmt: skip


def _write_zip(tree: Path, path: Path) -> int:
    unzipped = 0
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for file in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(file.relative_to(tree)), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = file.read_bytes()
            unzipped += len(data)
            zf.writestr(info, data)
    tmp.replace(path)
    return unzipped


def package_name(python: str = "3.11", arch: str = "x86_64") -> str:
    """The zip's file name for `python` on `arch` (what deploy.py looks for in build/lambda/)."""
    return f"colonnade-lambda-py{python}-{arch}.zip"


def build(python: str = "3.11", arch: str = "x86_64", out: Path = OUT) -> Built:
    """Builds (or reuses) the zip for `python` on `arch`; raises LambdaBuildError."""
    if python not in PYTHONS:
        raise LambdaBuildError(f"--python-version: {python!r} is not one of {PYTHONS}")
    if arch not in ARCHES:
        raise LambdaBuildError(f"--arch: {arch!r} is not one of {ARCHES}")
    if not (PACKAGE / "descriptors" / "colonnade.binpb").exists():
        raise LambdaBuildError("the descriptor set is missing: run `make gen` first")
    out.mkdir(parents=True, exist_ok=True)
    path = out / package_name(python, arch)
    key_file = path.with_suffix(".key")
    key = inputs_key(python, arch)
    if path.exists() and key_file.exists() and key_file.read_text().strip() == key:
        with zipfile.ZipFile(path) as zf:
            unzipped = sum(i.file_size for i in zf.infolist())
        return Built(path, path.stat().st_size, unzipped, reused=True)
    with tempfile.TemporaryDirectory(prefix="colonnade-lambda-") as tmp:
        tree = Path(tmp) / "tree"
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text(runtime_requirements(REQUIREMENTS.read_text()))
        _pip_install(reqs, tree, python, arch)
        _copy_package(tree)
        (tree / PROXY_CA_FILE).parent.mkdir(parents=True, exist_ok=True)
        (tree / PROXY_CA_FILE).write_bytes(proxy_root_cas())
        _prune(tree)
        interpreter = target_python(python)
        if interpreter is not None:
            _compile(interpreter, tree)
        unzipped = _write_zip(tree, path)
    zipped = path.stat().st_size
    if zipped > ZIPPED_LIMIT or unzipped > UNZIPPED_LIMIT:
        raise LambdaBuildError(
            f"{path}: {zipped} bytes zipped / {unzipped} unzipped exceeds Lambda's "
            f"{ZIPPED_LIMIT} / {UNZIPPED_LIMIT} for a direct upload"
        )
    key_file.write_text(key + "\n")
    return Built(path, zipped, unzipped, reused=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make lambda", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--python-version", default=os.environ.get("LAMBDA_PYTHON", "3.11"), choices=PYTHONS
    )
    parser.add_argument("--arch", default=os.environ.get("LAMBDA_ARCH", "x86_64"), choices=ARCHES)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        built = build(args.python_version, args.arch, args.out)
    except LambdaBuildError as exc:
        print(f"make lambda: {exc}", file=sys.stderr)
        return 1
    print(built.summary())
    print(built.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
