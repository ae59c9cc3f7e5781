"""A real OctoPrint with its virtual printer, started headless for tests and the demo.

The project tests against the real thing, so this starts the
same `octoprint serve` a lab runs, in its own virtual environment, on a local port, with a
configuration that needs no browser step and no internet (see docs/octoprint.md):
first-run wizard off, online checks and internet-only plugins off, the virtual printer on
with a 250 °C ambient temperature so heating is instant, an admin user, and a pre-seeded
application key.

The base directory is reusable: starting again on the same directory keeps OctoPrint's
files and print history, and the same API key and port, so crash tests can kill and
restart it under a connected node.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cofab.devstack.ports import free_port

logger = logging.getLogger(__name__)

ENV_VAR = "COFAB_OCTOPRINT_BIN"
REPO_ROOT = Path(__file__).resolve().parents[2]
_CREDENTIALS_FILE = "cofab-credentials.json"
_DISABLED_PLUGINS = [
    # These only try to reach the internet, which tests and labs behind firewalls lack.
    "announcements",
    "softwareupdate",
    "tracking",
    "discovery",
    "errortracking",
    "pluginmanager",
    "achievements",
    "health_check",
]
_JOB_LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) - octoprint\.printer\.standard\.job - "
    r"INFO - Print job (?P<action>\w+) - origin: (?P<origin>\w+), path: (?P<path>.*?), owner:"
)


class OctoPrintNotFound(RuntimeError):
    """No `octoprint` executable in any of the places we look."""


class OctoPrintStartError(RuntimeError):
    """OctoPrint did not come up; the message ends with the tail of its log."""


@dataclass(frozen=True)
class PrintCounts:
    """How often OctoPrint recorded a file as printed, from its file metadata.

    OctoPrint resets these when a file is overwritten with different content, so for
    "was anything printed twice" prefer `VirtualOctoPrint.print_log()`.
    """

    success: int
    failure: int

    @property
    def total(self) -> int:
        return self.success + self.failure


@dataclass(frozen=True)
class PrintLogEntry:
    """One line of OctoPrint's job log: `action` is started, done, cancelled, paused, ..."""

    time: str
    action: str
    origin: str
    path: str


def find_octoprint() -> Path:
    """The `octoprint` executable: $COFAB_OCTOPRINT_BIN, the repo's venv, or the PATH."""
    candidates: list[tuple[str, Path | None]] = []
    from_env = os.environ.get(ENV_VAR)
    candidates.append((f"${ENV_VAR}", Path(from_env) if from_env else None))
    candidates.append(("repo venv", REPO_ROOT / ".octoprint-venv" / "bin" / "octoprint"))
    on_path = shutil.which("octoprint")
    candidates.append(("PATH", Path(on_path) if on_path else None))
    for _, candidate in candidates:
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise OctoPrintNotFound(
        "OctoPrint is not installed where cofab looks: "
        f"${ENV_VAR} ({from_env or 'not set'}), "
        f"{REPO_ROOT / '.octoprint-venv' / 'bin' / 'octoprint'} (missing), "
        "and `octoprint` on the PATH (missing). Install it in its own venv: "
        "python3 -m venv .octoprint-venv && .octoprint-venv/bin/pip install octoprint"
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Last-resort cleanup at interpreter exit: never leave an OctoPrint running."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class VirtualOctoPrint:
    """One `octoprint serve` process with a virtual printer, on 127.0.0.1.

    Use as a context manager, or call `start()` and `stop()`. `url` and `api_key` are what
    a driver needs; `port` is fixed at construction so `url` is known before starting.
    """

    def __init__(
        self,
        basedir: Path | str,
        port: int | None = None,
        *,
        api_key: str | None = None,
        username: str = "cofab",
        startup_timeout_s: float = 60.0,
        ambient_temperature: float = 250.0,
        executable: Path | None = None,
    ) -> None:
        self.basedir = Path(basedir).resolve()
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.username = username
        self.startup_timeout_s = startup_timeout_s
        self.ambient_temperature = ambient_temperature
        self.log_path = self.basedir / "octoprint.log"
        self._executable = executable
        saved = self._load_credentials()
        self.api_key: str = api_key or saved.get("api_key") or secrets.token_hex(16).upper()
        self.password: str = saved.get("password") or secrets.token_urlsafe(16)
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._stopped = True

    def __repr__(self) -> str:
        return f"VirtualOctoPrint({str(self.basedir)!r}, port={self.port})"

    # --- lifecycle --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> VirtualOctoPrint:
        """Configure the base directory, start OctoPrint, and wait until its API answers."""
        if self.running:
            return self
        executable = self._executable or find_octoprint()
        self.basedir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._add_user(executable)
        self._write_api_key()
        self._save_credentials()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        # OctoPrint pins its own dependency versions; our PYTHONPATH must not leak into it.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    str(executable),
                    "--basedir",
                    str(self.basedir),
                    "serve",
                    "--iknowwhatimdoing",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() reaches its children
            )
        self._stopped = False
        self._finalizer = weakref.finalize(self, _kill_group, self._process)
        logger.info("started OctoPrint pid %d on %s", self._process.pid, self.url)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL. Returns the exit code."""
        process = self._process
        if process is None:
            return None
        if not self._stopped:
            if process.poll() is None:
                self._signal(signal.SIGTERM)
                try:
                    process.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning("OctoPrint pid %d ignored SIGTERM; killing it", process.pid)
                    self._signal(signal.SIGKILL)
                    process.wait(timeout_s)
            self._cleaned_up()
            logger.info("OctoPrint pid %d stopped (exit code %s)", process.pid, process.returncode)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL at once, as a crash would: for tests of what survives a host failure."""
        process = self._process
        if process is None or self._stopped:
            return
        self._signal(signal.SIGKILL)
        process.wait(10)
        self._cleaned_up()
        logger.info("OctoPrint pid %d killed", process.pid)

    def _cleaned_up(self) -> None:
        # Children the group leader left behind (e.g. a file analysis), once, right after
        # the leader exited; later the group id could belong to someone else.
        self._signal(signal.SIGKILL)
        self._stopped = True
        if self._finalizer is not None:
            self._finalizer.detach()

    def _signal(self, sig: signal.Signals) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> VirtualOctoPrint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- setup steps ------------------------------------------------------------------

    def _write_config(self) -> None:
        # JSON is valid YAML, which spares a YAML dependency. OctoPrint rewrites the file on
        # start (dropping defaults); we write ours again on every start.
        config = {
            "server": {
                "host": "127.0.0.1",
                "port": self.port,
                "firstRun": False,
                "onlineCheck": {"enabled": False},
                "pluginBlacklist": {"enabled": False},
            },
            "serial": {"port": "VIRTUAL", "baudrate": 115200, "autoconnect": False},
            "plugins": {
                "_disabled": _DISABLED_PLUGINS,
                "tracking": {"enabled": False},
                "virtual_printer": {
                    "_config_version": 1,
                    "enabled": True,
                    "ambientTemperature": self.ambient_temperature,
                },
            },
        }
        (self.basedir / "config.yaml").write_text(json.dumps(config, indent=2))

    def _add_user(self, executable: Path) -> None:
        """Create the admin (this also clears OctoPrint's access-control wizard)."""
        result = subprocess.run(
            [
                str(executable),
                "--basedir",
                str(self.basedir),
                "user",
                "add",
                self.username,
                "--password",
                self.password,
                "--admin",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or not ("User created" in output or "already exist" in output):
            raise OctoPrintStartError(f"`octoprint user add` failed (exit code {result.returncode}): {output[-2000:]}")

    def _write_api_key(self) -> None:
        keys = self.basedir / "data" / "appkeys" / "keys.yaml"
        keys.parent.mkdir(parents=True, exist_ok=True)
        keys.write_text(json.dumps({self.username: [{"app_id": "cofab-node", "api_key": self.api_key}]}))

    def _load_credentials(self) -> dict[str, str]:
        try:
            data = json.loads((self.basedir / _CREDENTIALS_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_credentials(self) -> None:
        path = self.basedir / _CREDENTIALS_FILE
        path.write_text(json.dumps({"api_key": self.api_key, "password": self.password}))
        path.chmod(0o600)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        last_problem = "no answer yet"
        with httpx.Client(headers={"X-Api-Key": self.api_key}, timeout=2.0) as client:
            while True:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise OctoPrintStartError(
                        f"OctoPrint exited with code {self._process.returncode} while starting "
                        f"on {self.url}. Last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    response = client.get(f"{self.url}/api/version")
                    if response.status_code == 200:
                        return
                    last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last_problem = str(exc) or type(exc).__name__
                if time.monotonic() >= deadline:
                    raise OctoPrintStartError(
                        f"OctoPrint on {self.url} did not answer within "
                        f"{self.startup_timeout_s:.0f} s ({last_problem}). "
                        f"Last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    # --- what happened ----------------------------------------------------------------

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines OctoPrint wrote to its console log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def printed_files(self) -> dict[str, PrintCounts]:
        """Every file OctoPrint stores, with its recorded successful and failed prints.

        Read over the REST API, so OctoPrint must be running. A cancel counts as a failure.
        """
        with httpx.Client(headers={"X-Api-Key": self.api_key}, timeout=10.0) as client:
            response = client.get(f"{self.url}/api/files/local", params={"recursive": "true"})
            response.raise_for_status()
            entries = response.json().get("files", [])
        return {entry["path"]: _counts(entry) for entry in _walk_files(entries)}

    def print_log(self) -> list[PrintLogEntry]:
        """Every job event OctoPrint logged (started, done, cancelled...), oldest first.

        Read from OctoPrint's own log files, so it works while OctoPrint is down and
        survives overwritten files: the record for "was any part printed twice". OctoPrint
        writes its log asynchronously, so a line may appear a moment after the event, and
        a SIGKILL can lose the last few lines.
        """
        logs = self.basedir / "logs"
        current = logs / "octoprint.log"
        rotated = sorted(p for p in logs.glob("octoprint.log.*") if p.is_file())
        entries: list[PrintLogEntry] = []
        for path in [*rotated, current]:
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                match = _JOB_LOG_LINE.match(line)
                if match:
                    entries.append(PrintLogEntry(match["time"], match["action"], match["origin"], match["path"]))
        return entries

    def started_prints(self) -> dict[str, int]:
        """How many times each file was started, from `print_log()`."""
        counts: dict[str, int] = {}
        for entry in self.print_log():
            if entry.action == "started":
                counts[entry.path] = counts.get(entry.path, 0) + 1
        return counts


def _walk_files(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for entry in entries:
        if entry.get("type") == "folder":
            yield from _walk_files(entry.get("children") or [])
        else:
            yield entry


def _counts(entry: dict[str, Any]) -> PrintCounts:
    prints = entry.get("prints") or {}
    return PrintCounts(int(prints.get("success") or 0), int(prints.get("failure") or 0))
