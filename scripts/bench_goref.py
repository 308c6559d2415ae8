"""Builds the compiled reference gateway for `make bench`: grpc-gateway (Go) on the catalog.

grpc-gateway v1.6.4 from Debian, built offline in GOPATH mode (GO111MODULE=off GOPROXY=off,
GOPATH = a directory under build/bench plus /usr/share/gocode, where Debian's `-dev` packages
install the Go sources). Nothing here is committed: the proto, the main package and the binary
are written under build/bench/goref at bench time.

The catalog's real proto imports google/type/money, google/api/field_behavior and resource and
colonnade/api, whose Go packages are not all in Debian's Go tree (and Debian's protoc-gen-go,
goprotobuf 1.3.5, predates the `google.golang.org/protobuf` Timestamp that protoc 3.21's
timestamp.proto names in its go_package). So the reference gets a wire-compatible proto written
here: same package `colonnade.catalog.v1`, service `CatalogService`, method `GetProduct`, HTTP
rule `get: "/v1/{name=products/*}"`, the same field numbers and types; `google.type.Money` is
replaced by a local message with the same three fields, field options are dropped, and
Timestamp maps to goprotobuf's `ptypes/timestamp` (`M` option). On the wire the calls are
identical; in JSON the output differs only where the two marshalers differ.

The gateway's marshaler is `runtime.JSONPb{OrigName: false, EmitDefaults: true}`: lowerCamelCase
names and unpopulated fields printed, the same JSON our gateway produces (grpc-gateway v2's
default), so both do the same work per request.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from colonnade_tools.devstack.system import GOCODE, go_offline_env

GATEWAY_SRC = GOCODE / "src/github.com/grpc-ecosystem/grpc-gateway"
GOOGLEAPIS = GATEWAY_SRC / "third_party/googleapis"
PROTO_INCLUDE = Path("/usr/include")
DEBIAN_PACKAGES = [
    "golang-go",
    "golang-grpc-gateway",
    "golang-github-grpc-ecosystem-grpc-gateway-dev",
    "golang-google-grpc-dev",
    "golang-goprotobuf-dev",
    "protobuf-compiler",
]

PROTO = """\
// Wire-compatible stand-in for proto/colonnade/catalog/v1/catalog.proto (GetProduct only),
// written by scripts/bench_goref.py for the reference gateway. Not committed.
syntax = "proto3";

package colonnade.catalog.v1;

import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";

option go_package = "colonnadegw/catalogpb";

service CatalogService {
  rpc GetProduct(GetProductRequest) returns (Product) {
    option (google.api.http) = {get: "/v1/{name=products/*}"};
  }
}

// Same fields as google.type.Money.
message Money {
  string currency_code = 1;
  int64 units = 2;
  int32 nanos = 3;
}

message Product {
  string name = 1;
  string sku = 2;
  string title = 3;
  string description = 4;
  string category = 5;
  Money price = 6;
  int64 stock = 7;
  google.protobuf.Timestamp create_time = 8;
  google.protobuf.Timestamp update_time = 9;
  string etag = 10;
}

message GetProductRequest {
  string name = 1;
}
"""

MAIN_GO = """\
// Reference REST gateway for make bench (scripts/bench_goref.py). Not committed.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"

	pb "colonnadegw/catalogpb"
	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "HTTP address")
	backend := flag.String("backend", "127.0.0.1:50051", "gRPC address of the catalog")
	flag.Parse()
	ctx := context.Background()
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.JSONPb{OrigName: false, EmitDefaults: true}))
	conn, err := grpc.Dial(*backend, grpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	if err := pb.RegisterCatalogServiceHandler(ctx, mux, conn); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(*listen, mux))
}
"""


def missing_tools() -> list[str]:
    """Debian packages (of DEBIAN_PACKAGES) whose files the build needs and cannot find."""
    checks = {
        "golang-go": shutil.which("go") is not None,
        "golang-grpc-gateway": shutil.which("protoc-gen-grpc-gateway") is not None,
        "golang-github-grpc-ecosystem-grpc-gateway-dev": (GATEWAY_SRC / "runtime").is_dir(),
        "golang-google-grpc-dev": (GOCODE / "src/google.golang.org/grpc").is_dir(),
        "golang-goprotobuf-dev": shutil.which("protoc-gen-go") is not None,
        "protobuf-compiler": shutil.which("protoc") is not None,
    }
    return [p for p in DEBIAN_PACKAGES if not checks[p]]


def ensure_toolchain() -> str | None:
    """Installs the Debian packages when missing and allowed; None when ready, else why not."""
    missing = missing_tools()
    if not missing:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return (
            "not built: missing Debian packages " + ", ".join(missing) + " (not root, so not "
            "installed; run `apt-get install -y " + " ".join(missing) + "`)"
        )
    print(f"installing {missing} with apt-get", flush=True)
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"not built: apt-get install {' '.join(missing)} failed: {done.stderr[-500:]}"
    still = missing_tools()
    if still:
        return f"not built: still missing after apt-get: {', '.join(still)}"
    return None


def build(workdir: Path) -> Path:
    """Generates the Go code and builds the gateway; returns the binary (raises on failure)."""
    src = workdir / "src" / "colonnadegw"
    (src / "catalogpb").mkdir(parents=True, exist_ok=True)
    (src / "cmd").mkdir(parents=True, exist_ok=True)
    (src / "catalogpb" / "catalog.proto").write_text(PROTO)
    (src / "cmd" / "main.go").write_text(MAIN_GO)
    subprocess.run(
        [
            "protoc",
            f"-I{workdir / 'src'}",
            f"-I{GOOGLEAPIS}",
            f"-I{PROTO_INCLUDE}",
            "--go_out=plugins=grpc,Mgoogle/protobuf/timestamp.proto="
            f"github.com/golang/protobuf/ptypes/timestamp:{workdir / 'src'}",
            f"--grpc-gateway_out=logtostderr=true:{workdir / 'src'}",
            str(src / "catalogpb" / "catalog.proto"),
        ],
        check=True,
    )
    binary = workdir / "grpc-gateway-catalog"
    subprocess.run(
        ["go", "build", "-o", str(binary), "colonnadegw/cmd"],
        check=True,
        env=go_offline_env(workdir),
        cwd=workdir,
    )
    return binary


def versions() -> dict[str, str]:
    """Versions of the Debian packages used (dpkg), for the report."""
    out = {}
    for pkg in DEBIAN_PACKAGES:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True
        )
        out[pkg] = done.stdout.strip() if done.returncode == 0 else "?"
    return out
