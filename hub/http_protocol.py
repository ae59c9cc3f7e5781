"""How uvicorn serves the hub: httptools, with request bodies handed to the app without copies.

Why: an upload's bytes go socket -> uvicorn -> `request.stream()` -> hash and staging file.
uvicorn's httptools protocol (0.3x-0.5x) appends every body piece the parser yields to a
`bytearray` and the app's `receive()` copies that out with `bytes(...)` and starts a fresh
`bytearray`: two copies per byte and a new, growing buffer for every ~256 KiB. Fresh large
buffers mean fresh pages, and page faults are the expensive part on this VM. Measured with
a bare ASGI app that only receives 2 GB (bench.upload's client, same run): 2.2-2.4 s of
server CPU with uvicorn's protocol, 0.6-0.7 s with this one (746-855 MB/s -> 1.6-3.5 GB/s).
With hashing and writing added that is what bench.upload's throughput needs.

`StreamingHttpToolsProtocol` changes one method: `on_body` keeps the parser's pieces in a
list (`_Pieces`) that `receive()`'s `bytes(...)` hands over as they are (one piece: the same
object; several: one join). Everything else, flow control (reading pauses past 64 KiB
waiting), 100-continue, keep-alive and disconnects, is uvicorn's. It relies on
`RequestResponseCycle.body` being read only through `len()`, `+=` and `bytes()`, which is
true for the uvicorn range pyproject allows (>=0.30,<1); tests/hub/api/test_serving.py checks
it against a real server.

httptools rather than h11: uvicorn's `auto` already picks httptools when installed
(`uvicorn[standard]` installs it); h11 is pure Python and slower still per byte.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["StreamingHttpToolsProtocol", "uvicorn_options"]


class _Pieces:
    """A request body waiting for `receive()`: the parser's pieces, not yet joined."""

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def __iadd__(self, piece: bytes) -> _Pieces:
        self._parts.append(piece)
        self._size += len(piece)
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        return self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)


class StreamingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, minus the two copies of every request body byte."""

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        if not isinstance(cycle.body, _Pieces):
            pieces = _Pieces()
            if cycle.body:
                pieces += bytes(cycle.body)
            cycle.body = pieces  # type: ignore[assignment]  # uvicorn infers bytearray; uses only len, +=, bytes()
        cycle.body += body
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config` that every hub launch uses."""
    return {"http": StreamingHttpToolsProtocol}
