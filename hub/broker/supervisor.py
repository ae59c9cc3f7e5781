"""The hub's own Mosquitto: start it with a generated configuration, keep it running.

The hub is the only authority on who may use the broker, so it writes the configuration,
password and ACL files itself, signals the broker to reload them when nodes come and go, and
restarts the broker if it dies. What a crash loses (see docs/mqtt.md) the hub's database
re-sends: `on_restart` tells the hub when to do so.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from cofab_wire.topics import validate_id
from hub.broker import process
from hub.broker.config import BrokerSettings, render_config
from hub.broker.credentials import BrokerCredentials
from hub.broker.files import atomic_write_text
from hub.broker.passwords import generate_password
from hub.broker.process import BrokerError

log = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 30.0


class MosquittoSupervisor:
    """Runs one mosquitto for `settings`; a context manager that starts and stops it.

    All public methods are thread-safe. `on_restart` is called (from the watchdog thread,
    without locks held) after the watchdog has brought a dead broker back, so the hub can
    re-send what the broker may have lost.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        binary: str | None = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 10.0,
        watchdog_interval: float = 1.0,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._binary = binary
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._watchdog_interval = watchdog_interval
        self._on_restart = on_restart
        self._credentials = BrokerCredentials(settings)
        self._credentials.set_user(settings.hub_username, settings.hub_password)
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | process.AdoptedProcess | None = None
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._restarts = 0

    # -- state ---------------------------------------------------------------------------

    @property
    def settings(self) -> BrokerSettings:
        return self._settings

    @property
    def credentials(self) -> BrokerCredentials:
        return self._credentials

    @property
    def is_running(self) -> bool:
        """True while the broker process is alive; False between a crash and its restart."""
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def restart_count(self) -> int:
        """How many times the watchdog has restarted a dead broker since start()."""
        return self._restarts

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Write the files, start mosquitto, return once it listens; then watch it.

        Raises BrokerError (with the broker's log tail) if it cannot start.
        """
        with self._lock:
            if self.is_running:
                raise BrokerError(f"mosquitto is already running (pid {self.pid})")
            if self._binary is None:
                self._binary = process.find_mosquitto()
            s = self._settings
            s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            s.persistence_dir.mkdir(mode=0o700, exist_ok=True)
            self._stopping.clear()
            orphan = process.adoptable(s.pid_file, s.conf_file, render_config(s))
            if orphan is not None and all(process._accepts(endpoint) for endpoint in s.listeners):
                # Left by a hub that crashed: keep it (and every node's connection), refresh
                # its users and ACL in case they changed, and watch it from now on.
                log.warning("adopting mosquitto pid %d left running by an earlier hub process", orphan.pid)
                self._proc = orphan
                self._credentials.write_files()
                orphan.send_signal(signal.SIGHUP)
            else:
                process.stop_stale(s.pid_file, s.conf_file, self._stop_timeout)
                self._launch()
            self._restarts = 0
            self._watchdog = threading.Thread(target=self._watch, name=f"mosquitto-watchdog-{s.port}", daemon=True)
            self._watchdog.start()
        host, port = self._settings.node_endpoint
        log.info("mosquitto pid %s listening on %s:%d", self.pid, host, port)
        return self

    def stop(self) -> None:
        """Stop watching, then SIGTERM the broker (it saves its database), SIGKILL if it hangs."""
        self._stopping.set()
        watchdog = self._watchdog
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join()
        with self._lock:
            self._watchdog = None
            proc, self._proc = self._proc, None
            if proc is not None:
                code = process.terminate(proc, self._stop_timeout)
                log.info("mosquitto pid %d stopped (exit code %s)", proc.pid, code)
                # Only ours: a pid file left by an earlier hub's orphan must survive for
                # start() to find and stop that orphan.
                self._settings.pid_file.unlink(missing_ok=True)

    def reload(self) -> None:
        """Rewrite the password and ACL files and SIGHUP the broker to apply them.

        Mosquitto applies the reload asynchronously, within milliseconds: a client that logs
        in at once may still meet the old files. On reload it also disconnects clients whose
        user was removed. If the broker is not running, the files wait for the next start.
        """
        with self._lock:
            self._credentials.write_files()
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGHUP)
                log.info("reloaded mosquitto pid %d (users and ACL)", proc.pid)

    def add_node(self, node_id: str) -> str:
        """Register `node_id` as a broker user with a new random password and return it.

        Calling it for a known node rotates its password. The password is not stored anywhere
        in clear: hand it to the lab now.
        """
        validate_id(node_id, "node id")
        if node_id == self._settings.hub_username:
            raise ValueError(f"node id {node_id!r} is the hub's user name")
        password = generate_password()
        with self._lock:
            self._credentials.set_user(node_id, password)
            self.reload()
        return password

    def remove_node(self, node_id: str) -> bool:
        """Revoke `node_id`'s login; the broker disconnects it on reload. True if it existed."""
        if node_id == self._settings.hub_username:
            raise ValueError(f"node id {node_id!r} is the hub's user name")
        with self._lock:
            existed = self._credentials.remove_user(node_id)
            if existed:
                self.reload()
        return existed

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------

    def _launch(self) -> None:
        """Write every file, spawn mosquitto and wait for its listeners (lock held)."""
        s = self._settings
        assert self._binary is not None
        for host, port in s.listeners:
            process.check_port_free(host, port)
        self._credentials.write_files()
        atomic_write_text(s.conf_file, render_config(s))
        proc = process.spawn(self._binary, s.conf_file, s.stderr_file)
        self._proc = proc
        atomic_write_text(s.pid_file, f"{proc.pid}\n", mode=0o644)
        try:
            process.wait_until_listening(proc, s.listeners, self._start_timeout, [s.stderr_file, s.log_file])
        except BrokerError:
            process.terminate(proc, self._stop_timeout)
            s.pid_file.unlink(missing_ok=True)
            raise

    def _watch(self) -> None:
        """Restart the broker whenever it dies, backing off while restarts keep failing."""
        failures = 0
        while not self._stopping.wait(self._watch_delay(failures)):
            with self._lock:
                proc = self._proc
                if self._stopping.is_set() or proc is None:
                    continue
                if proc.poll() is None:
                    failures = 0
                    continue
                s = self._settings
                if failures == 0:
                    log.error(
                        "mosquitto pid %d died (exit code %s); restarting it.\n%s",
                        proc.pid,
                        proc.returncode,
                        process.tail_logs([s.stderr_file, s.log_file]),
                    )
                try:
                    self._launch()
                except (BrokerError, OSError) as exc:
                    failures += 1
                    log.error("restarting mosquitto failed (attempt %d): %s", failures, exc)
                    continue
                failures = 0
                self._restarts += 1
                log.warning("mosquitto restarted as pid %s (restart %d)", self.pid, self._restarts)
            if self._on_restart is not None:
                try:
                    self._on_restart()
                except Exception:
                    log.exception("on_restart callback failed")

    def _watch_delay(self, failures: int) -> float:
        """The poll interval while healthy; exponential back-off after failed restarts."""
        if failures == 0:
            return self._watchdog_interval
        return min(_MAX_BACKOFF_SECONDS, self._watchdog_interval * 2**failures)
