"""Drive a printer through OctoPrint's documented REST API, with a thin httpx client.

Why not a client library: there is no `octoprint-client` package on the index;
`pyoctoprintapi` (last release 2023) has no upload and no select/print; `octorest` (2020)
drops the select flag on upload. The handful of calls we need is short and fully under
our control here (docs/octoprint.md lists the calls and OctoPrint's behaviour they rely on).

Things this driver is careful about:
- `connect()` never re-issues a connection to a printer that is already up: after a node
  restart it attaches to a running job instead of disturbing it.
- Uploads stream from an open file; a large G-code file is never read into memory.
- After a firmware halt, `/api/connection` says only "Closed"; the firmware's own message
  is under `error` in `/api/job`, so status comes from there.
- A rejected API key (401/403) and a refused connection become `MachineAuthError` and
  `MachineUnreachable` with messages for the lab operator, never a raw traceback; the
  monitor keeps polling (the machine's state is `unreachable` meanwhile) and the push
  socket reconnects with backoff, so OctoPrint coming back is picked up by itself.
- Push updates come over OctoPrint's socket (`octoprint_push.py`), polling is the fallback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import httpx

from firmware_bridge import errors
from firmware_bridge.driver import MachineDriver
from firmware_bridge.octoprint_parse import (
    GCODE_EXTENSIONS,
    current_profile,
    error_text,
    parse_capabilities,
    parse_job,
    parse_state,
)
from firmware_bridge.octoprint_push import PushClient
from firmware_bridge.state import (
    JOB_STATES,
    READY_STATES,
    JobProgress,
    MachineCapabilities,
    MachineState,
)

logger = logging.getLogger(__name__)

_CONNECT_POLL_S = 0.1
_UPLOAD_TIMEOUT_S = 120.0
_PUSH_LAG_S = 0.5


class OctoPrintDriver(MachineDriver):
    """One printer behind one OctoPrint instance.

    `port` and `baudrate` are what OctoPrint should open when connecting. None (the
    default) uses the connection the lab configured in OctoPrint itself; "AUTO" and
    `baudrate=0` make OctoPrint detect them; "VIRTUAL" is its built-in virtual printer.
    `setup_commands` are sent once after a fresh connection (not when attaching to a
    running job), e.g. `["M220 S10000"]` to make the virtual printer move 100x faster.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        port: str | None = None,
        baudrate: int | None = None,
        printer_profile: str | None = None,
        setup_commands: Sequence[str] = (),
        request_timeout_s: float = 10.0,
        push: bool = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"OctoPrint url must look like http://host:port, not {url!r}")
        if not api_key:
            raise ValueError("OctoPrint api_key is empty; create an application key in OctoPrint")
        self._url = url.rstrip("/")
        self._port = port
        self._baudrate = baudrate
        self._printer_profile = printer_profile
        self._setup_commands = [_check_line(line) for line in setup_commands]
        self._timeout_s = request_timeout_s
        self._capabilities = MachineCapabilities(file_extensions=GCODE_EXTENSIONS)
        self._client = httpx.Client(
            base_url=self._url,
            headers={"X-Api-Key": api_key, "Accept": "application/json"},
            timeout=request_timeout_s,
        )
        super().__init__()
        self._last_temps: Mapping[str, Any] = {}
        self._push = PushClient(self._url, api_key, self._pushed, name=str(self)) if push else None

    def __str__(self) -> str:
        return f"OctoPrint at {self._url}"

    def __repr__(self) -> str:
        return f"OctoPrintDriver({self._url!r}, port={self._port!r})"

    @property
    def url(self) -> str:
        return self._url

    @property
    def _port_text(self) -> str:
        port = f"port {self._port}" if self._port else "its configured port"
        return f"{port} at {self._baudrate} baud" if self._baudrate else port

    # --- HTTP -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; turn transport failures and auth refusals into `MachineError`.

        Other 4xx answers are returned for the caller to interpret in context.
        """
        try:
            response = self._client.request(method, path, timeout=timeout or self._timeout_s, **kwargs)
        except httpx.ConnectError as exc:
            raise errors.MachineUnreachable(
                f"cannot connect to {self} ({_reason(exc)}); is OctoPrint running and is the address right?"
            ) from None
        except httpx.TimeoutException:
            waited = timeout or self._timeout_s
            raise errors.MachineUnreachable(f"{self} did not answer within {waited:.0f} s") from None
        except httpx.HTTPError as exc:
            raise errors.MachineUnreachable(f"talking to {self} failed: {_reason(exc)}") from None
        if response.status_code in (401, 403) or _csrf_refusal(response):
            raise errors.MachineAuthError(
                f"{self} refused the API key (HTTP {response.status_code}: "
                f"{error_text(_body(response), 'forbidden')}); check the key in the machine "
                "configuration, and that its OctoPrint user may print"
            )
        if response.status_code >= 500:
            raise errors.MachineResponseError(
                f"{self} failed on {method} {path} (HTTP {response.status_code}): "
                f"{error_text(_body(response), 'internal error')}"
            )
        return response

    def _json(self, response: httpx.Response) -> Any:
        body = _body(response)
        if isinstance(body, str):
            raise errors.MachineResponseError(
                f"{self} answered {response.request.url.path} with something that is not "
                "OctoPrint's JSON API; is the url right?"
            )
        return body

    def _get(self, path: str, **kwargs: Any) -> Any:
        response = self._request("GET", path, **kwargs)
        if response.status_code != 200:
            raise errors.MachineResponseError(
                f"{self} answered GET {path} with HTTP {response.status_code}: "
                f"{error_text(_body(response), 'no details')}"
            )
        return self._json(response)

    def _post(self, path: str, payload: Mapping[str, Any]) -> httpx.Response:
        return self._request("POST", path, json=payload)

    # --- status -----------------------------------------------------------------------

    def _read_status(self) -> JobProgress:
        job = self._get("/api/job")
        printer: Mapping[str, Any] | None = None
        if parse_state(job.get("state")) in READY_STATES:
            # 409 when the printer dropped in between: then we just have no temperatures.
            response = self._request("GET", "/api/printer", params={"exclude": "sd,state"})
            if response.status_code == 200:
                printer = self._json(response)
        snapshot = parse_job(job, printer)
        if snapshot.temperatures:
            self._last_temps = snapshot.temperatures
        return snapshot

    @property
    def capabilities(self) -> MachineCapabilities:
        return self._capabilities

    def _read_capabilities(self) -> MachineCapabilities:
        profiles = self._get("/api/printerprofiles")
        return parse_capabilities(current_profile(profiles))

    # --- connection -------------------------------------------------------------------

    def connect(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        snapshot = self.checked_status()
        if snapshot.state in READY_STATES:
            logger.info("%s is already connected (%s); attaching", self, snapshot.state)
            self._capabilities = self._read_capabilities()
            return
        if snapshot.state is not MachineState.CONNECTING:
            self._open_connection(snapshot)
        seen_connecting = False
        while True:
            snapshot = self.checked_status()
            if snapshot.state in READY_STATES:
                break
            if snapshot.state is MachineState.CONNECTING:
                seen_connecting = True
            elif snapshot.state is MachineState.ERROR or seen_connecting:
                raise errors.MachineNotReady(
                    f"{self} could not connect to the printer on {self._port_text}: "
                    f"{snapshot.error or 'the connection closed again'}",
                    snapshot.state,
                    firmware_error=snapshot.error,
                )
            if time.monotonic() >= deadline:
                raise errors.MachineNotReady(
                    f"{self} did not get the printer ready within {timeout:.0f} s (last state: {snapshot.state})",
                    snapshot.state,
                )
            time.sleep(_CONNECT_POLL_S)
        logger.info("%s connected the printer on %s", self, self._port_text)
        if snapshot.state is MachineState.IDLE and self._setup_commands:
            self.send_commands(self._setup_commands)
        self._capabilities = self._read_capabilities()

    def _open_connection(self, snapshot: JobProgress) -> None:
        if snapshot.state is MachineState.ERROR:
            # In "Error" (before "Offline after error") OctoPrint still holds the failed
            # connection and ignores a connect; a disconnect first works in both states.
            logger.info("%s: reconnecting after error: %s", self, snapshot.error)
            self._post("/api/connection", {"command": "disconnect"})
        payload: dict[str, Any] = {"command": "connect"}
        if self._port is not None:
            payload["port"] = self._port
        if self._baudrate is not None:
            payload["baudrate"] = self._baudrate
        if self._printer_profile:
            payload["printerProfile"] = self._printer_profile
        response = self._post("/api/connection", payload)
        if response.status_code >= 400:
            raise errors.MachineNotReady(
                f"{self} refused to connect to {self._port_text}: {error_text(_body(response), 'no details')}",
                snapshot.state,
            )

    def disconnect(self) -> None:
        response = self._post("/api/connection", {"command": "disconnect"})
        self._expect_ok(response, "disconnect")
        logger.info("%s disconnected the printer", self)

    def _close_transport(self) -> None:
        if self._push is not None:
            self._push.stop()
        self._client.close()

    # --- push updates -----------------------------------------------------------------

    @property
    def push_client(self) -> PushClient | None:
        return self._push

    def start_monitoring(self, interval_s: float = 0.5) -> None:
        """Poll every `interval_s` and, with `push=True`, also take OctoPrint's socket
        messages as they come (polling stays on as the fallback)."""
        super().start_monitoring(interval_s)
        if self._push is not None:
            self._push.start()

    def stop_monitoring(self) -> None:
        if self._push is not None:
            self._push.stop()
        super().stop_monitoring()

    def _pushed(self, snapshot: JobProgress) -> None:
        # OctoPrint sends temperatures only when it has new readings (every few seconds);
        # between them a push carries the last ones rather than "no temperatures".
        if not snapshot.temperatures and snapshot.state in READY_STATES and self._last_temps:
            snapshot = replace(snapshot, temperatures=self._last_temps)
        elif snapshot.temperatures:
            self._last_temps = snapshot.temperatures
        # OctoPrint throttles its push messages: one may describe the printer up to half a
        # second ago. Stamped that much earlier, it never overrides a poll sent after it
        # (the monitor drops the older of two answers), e.g. a resume seen by a poll.
        self._monitor.observe(snapshot, time.monotonic() - _PUSH_LAG_S)

    # --- files and jobs ---------------------------------------------------------------

    def upload(self, path: Path, remote_name: str) -> str:
        return self._upload(path, remote_name, start=False).path

    def run_file(self, path: Path, remote_name: str) -> str:
        """Upload, select and start in one request: OctoPrint does all three atomically."""
        self.require_idle()
        result = self._upload(path, remote_name, start=True)
        if not result.started:
            raise self._refusal(
                f"start {result.path!r} (uploaded, not started)",
                "OctoPrint did not start it; its user may lack the permission to print",
            )
        self._job_started(time.monotonic())
        logger.info("%s started %s", self, result.path)
        return result.path

    def _upload(self, path: Path, remote_name: str, *, start: bool) -> _Upload:
        path = Path(path)
        if not path.is_file():
            raise errors.UploadRejected(f"cannot upload {path}: no such file")
        if not remote_name.lower().endswith(GCODE_EXTENSIONS):
            kinds = ", ".join(GCODE_EXTENSIONS)
            raise errors.UploadRejected(f"{self} takes only G-code files ({kinds}), not {remote_name!r}")
        data = {"select": "true", "print": "true"} if start else {}
        with path.open("rb") as stream:
            response = self._request(
                "POST",
                "/api/files/local",
                files={"file": (remote_name, stream, "application/octet-stream")},
                data=data,
                timeout=_UPLOAD_TIMEOUT_S,
            )
        if response.status_code != 201:
            raise errors.UploadRejected(
                f"{self} rejected the upload of {remote_name!r} (HTTP {response.status_code}): "
                f"{error_text(_body(response), 'no details')}"
            )
        body = self._json(response)
        try:
            stored = body["files"]["local"]["path"]
        except (KeyError, TypeError):
            raise errors.MachineResponseError(f"{self} did not say where it stored {remote_name!r}") from None
        return _Upload(str(stored), bool(body.get("effectivePrint")))

    def start(self, remote_name: str) -> None:
        self.require_idle()
        response = self._post(f"/api/files/local/{quote(remote_name)}", {"command": "select", "print": True})
        if response.status_code == 404:
            raise errors.MachineError(f"{self} has no file {remote_name!r}; upload it first")
        if response.status_code == 415:
            raise errors.UploadRejected(f"{self} cannot print {remote_name!r}: not a G-code file")
        if response.status_code == 409:
            raise self._state_error("start", response)
        self._expect_ok(response, f"start {remote_name!r}")
        self._job_started(time.monotonic())
        logger.info("%s started %s", self, remote_name)

    def pause(self) -> None:
        self._job_command({"command": "pause", "action": "pause"}, "pause")

    def resume(self) -> None:
        self._job_command({"command": "pause", "action": "resume"}, "resume")

    def cancel(self) -> None:
        self._job_command({"command": "cancel"}, "cancel")

    def _job_command(self, payload: Mapping[str, Any], what: str) -> None:
        response = self._post("/api/job", payload)
        if response.status_code == 409:
            raise self._state_error(what, response)
        self._expect_ok(response, what)
        logger.info("%s: %s", self, what)

    def emergency_stop(self) -> None:
        """Send M112: OctoPrint force-sends it, turns heaters off and closes the connection.

        If OctoPrint has no connection to the printer it is sending nothing, so there is
        nothing to stop; that is logged, not raised. An unreachable OctoPrint does raise.
        """
        response = self._post("/api/printer/command", {"commands": ["M112"]})
        if response.status_code == 409:
            logger.warning("%s: emergency stop while not connected; nothing was sent", self)
            return
        self._expect_ok(response, "emergency stop")
        logger.warning("%s: emergency stop sent", self)

    def send_commands(self, lines: list[str]) -> None:
        commands = [_check_line(line) for line in lines]
        if not commands:
            return
        response = self._post("/api/printer/command", {"commands": commands})
        if response.status_code == 409:
            raise self._state_error("send commands", response)
        self._expect_ok(response, "send commands")

    # --- error helpers ----------------------------------------------------------------

    def _expect_ok(self, response: httpx.Response, what: str) -> None:
        if response.status_code >= 400:
            raise errors.MachineResponseError(
                f"{self} refused to {what} (HTTP {response.status_code}): {error_text(_body(response), 'no details')}"
            )

    def _state_error(self, what: str, response: httpx.Response) -> errors.MachineStateError:
        """Explain a 409 answer with the machine's state as it is now."""
        return self._refusal(what, error_text(_body(response), "not possible now"))

    def _refusal(self, what: str, reason: str) -> errors.MachineStateError:
        """The error for an action OctoPrint would not do, chosen by a fresh status."""
        snapshot = self.status()
        if snapshot.state in JOB_STATES:
            return errors.MachineBusy(
                f"cannot {what}: {self} is {snapshot.state} ({snapshot.file_name or 'unknown file'}); {reason}",
                snapshot.state,
            )
        if snapshot.state is MachineState.IDLE:
            return errors.MachineStateError(f"cannot {what}: {self} is idle; {reason}", snapshot.state)
        not_ready = self.not_ready_error(snapshot)
        return errors.MachineNotReady(f"cannot {what}: {not_ready}", snapshot.state, not_ready.firmware_error)


class _Upload(NamedTuple):
    path: str
    """Where OctoPrint stored the file (it may have cleaned the name up)."""
    started: bool
    """OctoPrint's `effectivePrint`: whether it actually started printing it."""


def _check_line(line: str) -> str:
    """One command per line: a newline inside would smuggle in extra commands."""
    if not isinstance(line, str) or "\n" in line or "\r" in line or not line.strip():
        raise ValueError(f"a command must be one non-empty line, not {line!r}")
    return line.strip()


def _csrf_refusal(response: httpx.Response) -> bool:
    """OctoPrint answers a POST with an unknown API key by 400 "CSRF validation failed".

    It takes a request without a valid key for a browser's, which needs a CSRF token; for
    us that means the key was not accepted.
    """
    return response.status_code == 400 and "CSRF" in response.text


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
