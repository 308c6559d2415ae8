"""HTTP/2 frames (RFC 9113 section 4 and 6): the constants and the codec the client needs.

Only what a gRPC client sends and reads: building a frame is one struct pack; parsing happens
inline in `Connection.data_received` (the hot loop), with the constants below.
"""

from __future__ import annotations

import struct

from colonnade.gateway.errors import ProtocolError

# Frame types (RFC 9113 section 6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9
# Flags
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# Error codes (section 7)
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR = 0x0, 0x1, 0x3, 0x6
REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x7, 0x8, 0x9, 0xB
INADEQUATE_SECURITY = 0xC
# SETTINGS identifiers (section 6.5.2)
SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS = 0x2, 0x3
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 0x4, 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER_SIZE = 9
MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME = 16_384
MAX_STREAM_ID = 2**31 - 1

_HDR = struct.Struct(">BHBBI")  # length (24 bits as 8+16), type, flags, stream id
U32 = struct.Struct(">I")
_SETTING = struct.Struct(">HI")


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame."""
    n = len(payload)
    return _HDR.pack(n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


def header_frames(stream_id: int, block: bytes, max_frame: int) -> bytes:
    """A header block as HEADERS, followed by CONTINUATION frames when it exceeds a frame."""
    if len(block) <= max_frame:
        return frame(HEADERS, END_HEADERS, stream_id, block)
    out = [frame(HEADERS, 0, stream_id, block[:max_frame])]
    for i in range(max_frame, len(block), max_frame):
        last = i + max_frame >= len(block)
        chunk = block[i : i + max_frame]
        out.append(frame(CONTINUATION, END_HEADERS if last else 0, stream_id, chunk))
    return b"".join(out)


def settings_payload(*pairs: tuple[int, int]) -> bytes:
    """The payload of a SETTINGS frame: (identifier, value) pairs."""
    return b"".join(_SETTING.pack(ident, value) for ident, value in pairs)


def iter_settings(payload: bytes) -> list[tuple[int, int]]:
    """(identifier, value) pairs of a SETTINGS payload; ProtocolError when it is malformed."""
    if len(payload) % 6:
        raise ProtocolError(FRAME_SIZE_ERROR, "a SETTINGS frame of a bad length")
    return [_SETTING.unpack_from(payload, i) for i in range(0, len(payload), 6)]


def goaway_payload(last_stream_id: int, error_code: int, debug: bytes = b"") -> bytes:
    """The payload of a GOAWAY frame."""
    return struct.pack(">II", last_stream_id, error_code) + debug


def unpad(payload: bytes) -> bytes:
    """The content of a PADDED frame's payload (RFC 9113 section 6.1)."""
    if not payload:
        raise ProtocolError(PROTOCOL_ERROR, "a padded frame without a pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise ProtocolError(PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - pad]
