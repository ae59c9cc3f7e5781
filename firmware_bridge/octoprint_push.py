"""OctoPrint's push socket: `current` state messages (about every 0.5 s) without polling.

Flow (verified on OctoPrint 1.11, docs/octoprint.md): `POST /api/login {"passive": true}`
with the API key gives a user name and session; open `ws://host:port/sockjs/websocket`
(the raw-websocket SockJS endpoint: plain JSON messages) and send `{"auth": "name:session"}`.

Library: `websockets` (its synchronous client). It is maintained, typed, has no
dependencies, and is already in the environment through uvicorn; websocket-client would
work too but adds a second websocket stack. A background thread keeps the socket open
and reconnects with exponential backoff (0.5 s doubling to 30 s) when OctoPrint is down,
restarts or rejects the key; the driver's polling goes on meanwhile, so push is an
accelerator, never a single point of failure.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from firmware_bridge.octoprint_parse import parse_push
from firmware_bridge.state import JobProgress

logger = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0


def backoff_delays(start: float = BACKOFF_START_S, limit: float = BACKOFF_MAX_S):
    """0.5, 1, 2, 4 ... capped at `limit`: how long to wait before each reconnect."""
    delay = start
    while True:
        yield delay
        delay = min(limit, delay * 2)


class PushClient:
    """Receives OctoPrint's `current` messages and hands each as a snapshot to `on_snapshot`."""

    def __init__(
        self, url: str, api_key: str, on_snapshot: Callable[[JobProgress], None], name: str = "OctoPrint"
    ) -> None:
        self._url = url.rstrip("/")
        self._api_key = api_key
        self._on_snapshot = on_snapshot
        self._name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: ClientConnection | None = None
        self.connected = threading.Event()
        self.messages = 0
        self.connects = 0
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"push-{self._name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        socket = self._socket
        if socket is not None:
            try:
                socket.close()
            except Exception:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None

    def _run(self) -> None:
        delays = backoff_delays()
        while not self._stopping.is_set():
            try:
                self._session()
                delays = backoff_delays()  # a session that worked resets the backoff
            except (OSError, httpx.HTTPError, WebSocketException, ValueError, _Refused) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.debug("%s push socket: %s", self._name, self.last_error)
            self.connected.clear()
            self._stopping.wait(next(delays))

    def _session(self) -> None:
        login = httpx.post(
            f"{self._url}/api/login", json={"passive": True}, headers={"X-Api-Key": self._api_key}, timeout=10
        )
        if login.status_code != 200:
            raise _Refused(f"login refused (HTTP {login.status_code})")
        user = login.json()
        ws_url = "ws" + self._url[4:] + "/sockjs/websocket"
        with connect(ws_url, open_timeout=10, close_timeout=2) as socket:
            self._socket = socket
            try:
                socket.send(json.dumps({"auth": f"{user['name']}:{user['session']}"}))
                self.connects += 1
                self.connected.set()
                while not self._stopping.is_set():
                    try:
                        raw = socket.recv(timeout=5)
                    except TimeoutError:
                        continue
                    message = json.loads(raw)
                    if not isinstance(message, dict):
                        continue
                    current = message.get("current") or message.get("history")
                    if isinstance(current, dict):
                        self.messages += 1
                        self._on_snapshot(parse_push(current))
            finally:
                self._socket = None


class _Refused(Exception):
    """OctoPrint answered the login, but not with a session (bad key, no permission)."""
