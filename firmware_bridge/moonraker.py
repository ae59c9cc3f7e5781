"""Drive a Klipper printer through Moonraker's HTTP API (httpx), like the OctoPrint driver.

Endpoints: `GET /printer/objects/query` (status), `POST /server/files/upload` (streamed,
`print=true` uploads and starts in one request), `POST /printer/print/start|pause|resume|
cancel`, `POST /printer/emergency_stop`, `POST /printer/gcode/script`, and
`POST /printer/firmware_restart` to bring Klipper back after a shutdown. The key, when
Moonraker asks for one, goes in `X-Api-Key`.

Untested against a live Moonraker (there is no Klipper here): the answer parsing is tested
on documented JSON shapes, the transport only on an address nobody listens on. Push
updates (Moonraker's websocket `notify_status_update`) would slot into the monitor as
OctoPrint's do; polling is used until then.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from firmware_bridge import errors
from firmware_bridge.driver import MachineDriver
from firmware_bridge.moonraker_parse import (
    GCODE_EXTENSIONS,
    QUERY_OBJECTS,
    error_of,
    parse_capabilities,
    parse_status,
    parse_upload,
    result_of,
)
from firmware_bridge.state import JOB_STATES, READY_STATES, JobProgress, MachineCapabilities, MachineState

logger = logging.getLogger(__name__)


class MoonrakerDriver(MachineDriver):
    """One Klipper printer behind one Moonraker instance."""

    def __init__(self, url: str, api_key: str | None = None, *, request_timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Moonraker url must look like http://host:7125, not {url!r}")
        self._url = url.rstrip("/")
        headers = {"Accept": "application/json"}
        if api_key:
            headers["X-Api-Key"] = api_key
        self._client = httpx.Client(base_url=self._url, headers=headers, timeout=request_timeout_s)
        self._timeout_s = request_timeout_s
        self._capabilities = MachineCapabilities(file_extensions=GCODE_EXTENSIONS)
        super().__init__()

    def __str__(self) -> str:
        return f"Moonraker at {self._url}"

    @property
    def capabilities(self) -> MachineCapabilities:
        return self._capabilities

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise errors.MachineUnreachable(f"cannot connect to {self} ({exc}); is Moonraker running?") from None
        except httpx.TimeoutException:
            raise errors.MachineUnreachable(f"{self} did not answer within {self._timeout_s:.0f} s") from None
        except httpx.HTTPError as exc:
            raise errors.MachineUnreachable(f"talking to {self} failed: {exc}") from None
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        if response.status_code in (401, 403):
            raise errors.MachineAuthError(
                f"{self} refused the API key (HTTP {response.status_code}): {error_of(body, 'unauthorized')}"
            )
        if response.status_code >= 500:
            raise errors.MachineResponseError(
                f"{self} failed on {method} {path} (HTTP {response.status_code}): {error_of(body, 'internal error')}"
            )
        if response.status_code >= 400:
            raise errors.MachineStateError(f"{self} refused {method} {path}: {error_of(body, 'no details')}")
        return result_of(body)

    def _query(self) -> dict[str, Any]:
        result = self._request("GET", "/printer/objects/query", params=dict.fromkeys(QUERY_OBJECTS, ""))
        status = (result or {}).get("status") if isinstance(result, dict) else None
        if not isinstance(status, dict):
            raise errors.MachineResponseError(f"{self} answered the status query without a status")
        return status

    def _read_status(self) -> JobProgress:
        return parse_status(self._query())

    def connect(self, timeout: float = 30.0) -> None:
        """Wait for Klipper to be ready; after a shutdown or error, restart its firmware once."""
        deadline = time.monotonic() + timeout
        restarted = False
        while True:
            status = self._query()
            snapshot = parse_status(status)
            if snapshot.state in READY_STATES:
                self._capabilities = parse_capabilities(status)
                return
            if snapshot.state is MachineState.ERROR and not restarted:
                logger.info("%s: restarting Klipper after: %s", self, snapshot.error)
                self._request("POST", "/printer/firmware_restart")
                restarted = True
            if time.monotonic() >= deadline:
                raise errors.MachineNotReady(
                    f"{self}: Klipper not ready within {timeout:.0f} s ({snapshot.error or snapshot.state})",
                    snapshot.state,
                    firmware_error=snapshot.error,
                )
            time.sleep(0.5)

    def disconnect(self) -> None:
        """Moonraker keeps Klipper connected; there is nothing to release."""

    def _close_transport(self) -> None:
        self._client.close()

    def upload(self, path: Path, remote_name: str) -> str:
        return self._upload(Path(path), remote_name, start=False)[0]

    def run_file(self, path: Path, remote_name: str) -> str:
        self.require_idle()
        stored, started = self._upload(Path(path), remote_name, start=True)
        if not started:
            self.start(stored)
        else:
            self._job_started(time.monotonic())
        return stored

    def _upload(self, path: Path, remote_name: str, *, start: bool) -> tuple[str, bool]:
        if not path.is_file():
            raise errors.UploadRejected(f"cannot upload {path}: no such file")
        if not remote_name.lower().endswith(GCODE_EXTENSIONS):
            raise errors.UploadRejected(f"{self} takes only G-code files, not {remote_name!r}")
        data = {"root": "gcodes", **({"print": "true"} if start else {})}
        with path.open("rb") as stream:
            try:
                result = self._request(
                    "POST",
                    "/server/files/upload",
                    data=data,
                    timeout=120,
                    files={"file": (remote_name, stream, "application/octet-stream")},
                )
            except errors.MachineStateError as exc:
                raise errors.UploadRejected(str(exc)) from None
        return parse_upload(result, remote_name)

    def start(self, remote_name: str) -> None:
        self.require_idle()
        self._request("POST", "/printer/print/start", params={"filename": remote_name})
        self._job_started(time.monotonic())

    def pause(self) -> None:
        self._job_action("pause")

    def resume(self) -> None:
        self._job_action("resume")

    def cancel(self) -> None:
        self._job_action("cancel")

    def _job_action(self, what: str) -> None:
        snapshot = self.checked_status()
        if snapshot.state not in JOB_STATES:
            raise errors.MachineStateError(f"cannot {what}: {self} is {snapshot.state}", snapshot.state)
        self._request("POST", f"/printer/print/{what}")

    def emergency_stop(self) -> None:
        self._request("POST", "/printer/emergency_stop")
        logger.warning("%s: emergency stop sent", self)

    def send_commands(self, lines: list[str]) -> None:
        for line in lines:
            if "\n" in line or "\r" in line or not line.strip():
                raise ValueError(f"a command must be one non-empty line, not {line!r}")
        if lines:
            self._request("POST", "/printer/gcode/script", params={"script": "\n".join(lines)})
