"""``colonnade-healthcheck``: the one health probe of ECS, Kubernetes and the image HEALTHCHECK.

    colonnade-healthcheck grpc HOST:PORT [--service NAME] [--timeout SECONDS]
    colonnade-healthcheck http URL [--timeout SECONDS]
    colonnade-healthcheck auto [--timeout SECONDS]

``grpc`` calls ``grpc.health.v1.Health/Check`` (for ``NAME``, default the whole server) and
is healthy when the answer is SERVING; ``http`` sends a GET and is healthy on status 200.
``auto`` is the image's own HEALTHCHECK, for the one image that runs every process: the
gateway's ``/readyz`` when ``COLONNADE_GATEWAY_PORT`` is set or the container runs
``colonnade-gateway``, else gRPC health on ``127.0.0.1:$GRPC_PORT`` (50051 by default). ECS and
Kubernetes give the explicit form instead. Exit 0 when healthy, 1 otherwise (a usage error too:
Docker reserves exit code 2). One line
says the result and why: on stdout when healthy, on stderr when not.

It runs every 15 s in every container, so it starts fast and uses little CPU. grpcio alone
costs over 100 ms of CPU to import (its Cython core pulls in asyncio), so the gRPC probe
speaks the few frames of HTTP/2 one unary call needs over a plain socket: the request is
built by hand (literal HPACK headers; the protobuf message has at most one field) and SERVING
is read from the answer's message. Header blocks are decoded with ``hpack`` (python-hyper,
already the gateway's dependency; servers compress them with a dynamic table) only when the
answer is not SERVING, to say why. BUILD.md has the measured cost against grpcio. The
``http`` probe is one HTTP/1.1 request on a socket (``ssl`` only for https).

:func:`check_grpc`, :func:`check_http` and :func:`wait_healthy` are also what the local
stack and the bench use to wait for their processes.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Mapping

USAGE = (
    "usage: colonnade-healthcheck grpc HOST:PORT [--service NAME] [--timeout SECONDS]\n"
    "       colonnade-healthcheck http URL [--timeout SECONDS]\n"
    "       colonnade-healthcheck auto [--timeout SECONDS]"
)
DEFAULT_TIMEOUT = 2.0
HEALTH_CHECK = b"/grpc.health.v1.Health/Check"
#: grpc.health.v1.HealthCheckResponse.ServingStatus
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
#: google.rpc.Code names, by number
GRPC_CODES = (
    *("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND"),
    *("ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION"),
    *("ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"),
    "UNAUTHENTICATED",
)

# HTTP/2 (RFC 9113): frame types and flags
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

Check = Callable[[], tuple[bool, str]]


class ProbeError(Exception):
    """The probe got no usable answer; the message says why."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_length(value: int) -> bytes:
    """An HPACK integer with a 7-bit prefix (RFC 7541 5.1), Huffman flag off."""
    if value < 0x7F:
        return bytes([value])
    return b"\x7f" + _varint(value - 0x7F)


def _header(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name (RFC 7541 6.2.2)."""
    return b"\x00" + _hpack_length(len(name)) + name + _hpack_length(len(value)) + value


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    head = len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big")
    return head + payload


def health_request(authority: str, service: str, timeout: float) -> bytes:
    """Everything a client sends for one Check call: preface, SETTINGS, HEADERS, DATA."""
    name = service.encode()
    message = b"\x0a" + _varint(len(name)) + name if name else b""
    block = (
        b"\x83\x86"  # :method POST, :scheme http (static table entries 3 and 6)
        + _header(b":path", HEALTH_CHECK)
        + _header(b":authority", authority.encode())
        + _header(b"content-type", b"application/grpc")
        + _header(b"te", b"trailers")
        + _header(b"grpc-timeout", f"{max(1, int(timeout * 1000))}m".encode())
        + _header(b"user-agent", b"colonnade-healthcheck")
    )
    body = b"\x00" + len(message).to_bytes(4, "big") + message
    return (
        PREFACE
        + _frame(SETTINGS, 0, 0)
        + _frame(HEADERS, END_HEADERS, 1, block)
        + _frame(DATA, END_STREAM, 1, body)
    )


def parse_target(target: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port); ValueError when malformed."""
    host, sep, port = target.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:50051), got {target!r}")
    return host.strip("[]"), int(port)


class _Deadline:
    def __init__(self, timeout: float) -> None:
        self.end = time.monotonic() + timeout

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


def _connect(host: str, port: int, deadline: _Deadline) -> socket.socket:
    # An ASCII host goes to getaddrinfo as bytes: as str it is IDNA-encoded, which imports
    # encodings.idna, stringprep and re (~5 ms) for nothing.
    address = host.encode() if host.isascii() else host
    sock = socket.create_connection((address, port), timeout=deadline.left())  # type: ignore[arg-type]
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _FrameReader:
    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""

    def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            self.sock.settimeout(self.deadline.left())
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProbeError("the server closed the connection before answering")
            self.buffer += chunk

    def next(self) -> tuple[int, int, int, bytes]:
        """(type, flags, stream id, payload) of the next frame."""
        self._fill(9)
        if self.buffer.startswith(b"HTTP/"):
            raise ProbeError("the server answered in HTTP/1.x: not a gRPC server")
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags = self.buffer[3], self.buffer[4]
        stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFF_FFFF
        self._fill(9 + length)
        payload, self.buffer = self.buffer[9 : 9 + length], self.buffer[9 + length :]
        return kind, flags, stream, payload


def _unpad(flags: int, payload: bytes, priority: bool = False) -> bytes:
    start = 0
    end = len(payload)
    if flags & PADDED:
        start, end = 1, len(payload) - payload[0]
    if priority and flags & PRIORITY:
        start += 5
    if end < start:
        raise ProbeError("malformed HTTP/2 frame (padding)")
    return payload[start:end]


def call_health(host: str, port: int, service: str, timeout: float) -> tuple[list[bytes], bytes]:
    """One Check call: (the answer's header blocks, still HPACK-encoded; its body)."""
    deadline = _Deadline(timeout)
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with _connect(host, port, deadline) as sock:
        sock.sendall(health_request(authority, service, timeout))
        reader = _FrameReader(sock, deadline)
        blocks: list[bytes] = []
        block: bytes | None = None  # a header block still waiting for CONTINUATION frames
        body = b""
        ended = False
        while True:
            kind, flags, stream, payload = reader.next()
            if kind == SETTINGS and not flags & ACK:
                sock.sendall(_frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                sock.sendall(_frame(PING, ACK, 0, payload))
            elif kind == GOAWAY and int.from_bytes(payload[:4], "big") & 0x7FFF_FFFF < 1:
                raise ProbeError("the server is shutting down (GOAWAY before the call)")
            elif stream != 1:
                continue
            elif kind == RST_STREAM:
                code = int.from_bytes(payload[:4], "big")
                raise ProbeError(f"the server reset the call (HTTP/2 error code {code})")
            elif kind == DATA:
                body += _unpad(flags, payload)
                ended = bool(flags & END_STREAM)
            elif kind == HEADERS or (kind == CONTINUATION and block is not None):
                if kind == HEADERS:
                    block = _unpad(flags, payload, priority=True)
                    ended = bool(flags & END_STREAM)
                else:
                    block = (block or b"") + payload
                if flags & END_HEADERS:
                    blocks.append(block)
                    block = None
            if ended and block is None:
                return blocks, body


def decode_headers(blocks: list[bytes]) -> dict[str, str]:
    """The fields of every header block, decoded in order (they share one HPACK table)."""
    import hpack  # ~10 ms to import (its Huffman tables): only when the answer is not SERVING

    decoder = hpack.Decoder()
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for block in blocks
        for name, value in decoder.decode(block, raw=True)
    }


def check_grpc(
    target: str, service: str = "", timeout: float = DEFAULT_TIMEOUT
) -> tuple[bool, str]:
    """(healthy, why) of the gRPC server at ``target`` (``grpc.health.v1`` Check).

    A response message saying SERVING is healthy (a unary answer carries one only with
    status OK); anything else has its headers and trailers decoded to say why not.
    """
    what = f"{target} {service or '(server)'}"
    started = time.monotonic()
    try:
        host, port = parse_target(target)
        blocks, body = call_health(host, port, service, timeout)
    except ValueError as exc:
        return False, str(exc)
    except TimeoutError:
        return False, f"{what}: no answer within {timeout:g} s"
    except OSError as exc:
        return False, f"{what}: {exc.strerror or exc}"
    except ProbeError as exc:
        return False, f"{what}: {exc}"
    took = f"{1000 * (time.monotonic() - started):.0f} ms"
    status = _serving_status(body)
    if status == 1:
        return True, f"{what}: SERVING ({took})"
    try:
        headers = decode_headers(blocks)
    except Exception as exc:  # hpack's errors: whatever answered does not speak gRPC
        return False, f"{what}: not a gRPC answer ({type(exc).__name__}: {exc})"
    if headers.get(":status") != "200" or "grpc-status" not in headers:
        return False, f"{what}: not a gRPC answer (HTTP status {headers.get(':status', '?')})"
    code = int(headers["grpc-status"]) if headers["grpc-status"].isdigit() else 2
    if code != 0:
        from urllib.parse import unquote

        name = GRPC_CODES[code] if code < len(GRPC_CODES) else str(code)
        message = unquote(headers.get("grpc-message", ""))
        hint = {
            "NOT_FOUND": " (the server does not know this service name)",
            "UNIMPLEMENTED": " (the server has no grpc.health.v1 service)",
        }.get(name, "")
        return False, f"{what}: Check failed with {name}{': ' if message else ''}{message}{hint}"
    return False, f"{what}: {SERVING_STATUS.get(status, str(status))} ({took})"


def _serving_status(body: bytes) -> int:
    """The ``status`` field of a length-prefixed HealthCheckResponse (0 when absent)."""
    if len(body) < 5 or body[0] != 0:
        return 0  # compressed, or no message: nothing this probe can read
    message = body[5 : 5 + int.from_bytes(body[1:5], "big")]
    i = 0
    while i < len(message):
        key = message[i]
        i += 1
        if key == 0x08:  # field 1, varint
            value = shift = 0
            while i < len(message):
                byte = message[i]
                i += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    return value
            return 0
        return 0  # any other field: not a HealthCheckResponse this probe knows
    return 0


def check_http(url: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """(healthy, why) of a GET of ``url``: healthy on status 200."""
    from urllib.parse import urlsplit

    started = time.monotonic()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return False, f"expected an http:// or https:// URL, got {url!r}"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False, f"bad port in {url!r}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "User-Agent: colonnade-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode()
    deadline = _Deadline(timeout)
    try:
        with _connect(parts.hostname, port, deadline) as raw:
            sock = raw
            if parts.scheme == "https":
                import ssl

                sock = ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
            sock.sendall(request)
            answer = _read_answer(sock, deadline)
    except TimeoutError:
        return False, f"{url}: no answer within {timeout:g} s"
    except OSError as exc:
        return False, f"{url}: {exc.strerror or exc}"
    took = f"{1000 * (time.monotonic() - started):.0f} ms"
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        return False, f"{url}: not an HTTP/1.x answer ({status_line[:24]!r}…)"
    if fields[1] == "200":
        return True, f"{url}: {status_line.partition(' ')[2]} ({took})"
    snippet = " ".join(body.decode("utf-8", "replace").split())[:300]
    return False, f"{url}: {status_line.partition(' ')[2]} ({took}) {snippet}".rstrip()


def _read_answer(sock: socket.socket, deadline: _Deadline, limit: int = 8192) -> bytes:
    """The answer's head and the start of its body: until EOF, ``limit`` bytes, or the body
    announced by Content-Length; a body is only wanted to say why a check failed."""
    data = b""
    while len(data) < limit:
        try:
            sock.settimeout(deadline.left())
            chunk = sock.recv(limit)
        except TimeoutError:
            if b"\r\n" in data:
                break  # the status line is there: the rest only decorates the message
            raise
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                length = value.strip()
                is_length = name.strip().lower() == b"content-length" and length.isdigit()
                if is_length and len(body) >= int(length):
                    return data
    return data


def wait_healthy(check: Check, timeout: float, interval: float = 0.1) -> str:
    """Run ``check`` until it reports healthy; its last reason, or TimeoutError with it."""
    deadline = time.monotonic() + timeout
    while True:
        healthy, why = check()
        if healthy:
            return why
        if time.monotonic() + interval > deadline:
            raise TimeoutError(f"not healthy within {timeout:g} s: {why}")
        time.sleep(interval)


def _container_command() -> str:
    """The container's command line (PID 1, or the child of an init such as tini)."""
    try:
        with open("/proc/1/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def auto_probe(environ: Mapping[str, str], command: str) -> list[str]:
    """What ``auto`` checks in a container with this environment and command line."""
    gateway_port = environ.get("COLONNADE_GATEWAY_PORT")
    if gateway_port or "colonnade-gateway" in command or "colonnade.gateway" in command:
        return ["http", f"http://127.0.0.1:{gateway_port or 8080}/readyz"]
    return ["grpc", f"127.0.0.1:{environ.get('GRPC_PORT') or 50051}"]


def _parse(args: list[str]) -> tuple[str, str, str, float]:
    if args and args[0] == "auto":
        args = auto_probe(os.environ, _container_command()) + args[1:]
    if len(args) < 2 or args[0] not in {"grpc", "http"}:
        raise ValueError("expected `grpc HOST:PORT` or `http URL`")
    kind, target, rest = args[0], args[1], args[2:]
    service, timeout = "", DEFAULT_TIMEOUT
    while rest:
        option = rest.pop(0)
        name, eq, value = option.partition("=")
        if not eq:
            if not rest:
                raise ValueError(f"{option} needs a value")
            value = rest.pop(0)
        if name == "--service" and kind == "grpc":
            service = value
        elif name == "--timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise ValueError(f"--timeout must be a number of seconds, got {value!r}") from None
            if not 0 < timeout <= 300:
                raise ValueError(f"--timeout must be between 0 and 300 seconds, got {value}")
        else:
            raise ValueError(f"unknown option {name!r}")
    return kind, target, service, timeout


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when healthy, else 1 (usage errors included: Docker reserves 2)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in {"-h", "--help"}:
        print(USAGE)
        return 0
    try:
        kind, target, service, timeout = _parse(args)
    except ValueError as exc:
        print(f"colonnade-healthcheck: {exc}\n{USAGE}", file=sys.stderr)
        return 1
    if kind == "grpc":
        healthy, why = check_grpc(target, service, timeout)
    else:
        healthy, why = check_http(target, timeout)
    if healthy:
        print(f"healthy: {why}", flush=True)
        return 0
    print(f"unhealthy: {why}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
