"""One mosquitto process: find the binary, spawn it, wait for its ports, stop it.

Kept apart from the supervisor so the lifecycle (watchdog, reload, users) reads without the
operating-system details, and so each failure here ends in a `BrokerError` whose message says
what happened and shows the broker's own last words.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

ENV_BINARY = "COFAB_MOSQUITTO_BIN"
FALLBACK_BINARY = "/usr/sbin/mosquitto"
_POLL_SECONDS = 0.05


class BrokerError(RuntimeError):
    """The broker could not be found, started or stopped; the message says why."""


def find_mosquitto(env: Mapping[str, str] | None = None) -> str:
    """Path of the mosquitto binary: $COFAB_MOSQUITTO_BIN, else `mosquitto` on PATH, else
    /usr/sbin/mosquitto (Debian installs it there, and /usr/sbin is often not on a user's PATH).
    """
    env = os.environ if env is None else env
    configured = env.get(ENV_BINARY)
    if configured:
        found = shutil.which(configured, path=env.get("PATH"))
        if not found:
            raise BrokerError(f"{ENV_BINARY}={configured!r} is not an executable file")
        return found
    found = shutil.which("mosquitto", path=env.get("PATH"))
    if found:
        return found
    if os.path.isfile(FALLBACK_BINARY) and os.access(FALLBACK_BINARY, os.X_OK):
        return FALLBACK_BINARY
    raise BrokerError(
        "mosquitto not found: install it (Debian/Ubuntu: apt-get install mosquitto) or set "
        f"{ENV_BINARY} to the path of the mosquitto binary"
    )


def check_port_free(host: str, port: int) -> None:
    """Raise BrokerError if (host, port) cannot be bound.

    Checked before spawning because otherwise, with another server on the port, the readiness
    probe could connect to that server before mosquitto gives up, and report success.
    SO_REUSEADDR matches what mosquitto sets, so a port in TIME_WAIT still counts as free.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = f"cannot start mosquitto: {host}:{port} is already in use"
            else:
                reason = f"cannot start mosquitto on {host}:{port}: {exc.strerror}"
            raise BrokerError(reason) from None


def spawn(binary: str, conf_file: Path, stderr_file: Path) -> subprocess.Popen[bytes]:
    """Start `mosquitto -c conf_file` with stdout and stderr appended to `stderr_file`.

    Mosquitto reports configuration and database errors on stderr before its log file is
    open, so that stream is kept for the error message. The broker gets its own session (and
    process group): a Ctrl-C meant for the hub must not kill the broker before the hub has
    stopped it in order (SIGTERM, which saves the persistence database).
    """
    with open(stderr_file, "ab") as err:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        err.write(f"--- {stamp} starting {binary} -c {conf_file}\n".encode())
        err.flush()
        proc = subprocess.Popen(
            [binary, "-c", str(conf_file)],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            cwd=conf_file.parent,
            start_new_session=True,
            close_fds=True,
        )
    log.info("started mosquitto pid %d with %s", proc.pid, conf_file)
    return proc


def wait_until_listening(
    proc: subprocess.Popen[bytes],
    endpoints: Iterable[tuple[str, int]],
    timeout: float,
    log_files: Iterable[Path],
) -> None:
    """Return once every endpoint accepts TCP connections; raise BrokerError if mosquitto
    exits first or the deadline passes (the process is then left for the caller to stop).
    """
    pending = list(endpoints)
    log_files = list(log_files)
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise BrokerError(f"mosquitto exited with code {code} during start-up.\n{tail_logs(log_files)}")
        pending = [ep for ep in pending if not _accepts(ep)]
        if not pending:
            return
        if time.monotonic() >= deadline:
            waiting = ", ".join(f"{h}:{p}" for h, p in pending)
            raise BrokerError(
                f"mosquitto (pid {proc.pid}) did not listen on {waiting} within {timeout:g} s.\n{tail_logs(log_files)}"
            )
        time.sleep(_POLL_SECONDS)


def terminate(proc: subprocess.Popen[bytes] | AdoptedProcess, timeout: float) -> int:
    """SIGTERM (mosquitto then saves its database), wait, SIGKILL if it hangs; return the code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("mosquitto pid %d ignored SIGTERM for %g s; killing it", proc.pid, timeout)
            proc.kill()
            return proc.wait()
        return proc.returncode if proc.returncode is not None else proc.wait()
    return proc.wait()


class AdoptedProcess:
    """A mosquitto an earlier hub process started and left running, watched by pid.

    Adopting it instead of restarting it means a hub crash does not also disconnect every
    node (a broker's shutdown publishes every connected node's Last Will). It offers the
    subset of `subprocess.Popen` the supervisor uses.
    """

    def __init__(self, pid: int, conf_file: Path) -> None:
        self.pid = pid
        self._conf_file = conf_file
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _runs_conf(self.pid, self._conf_file):
            self.returncode = -1  # not our child: its real exit code is not ours to read
        return self.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        _signal(self.pid, sig)

    def kill(self) -> None:
        _signal(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"mosquitto pid {self.pid}", timeout or 0.0)
            time.sleep(_POLL_SECONDS)
        assert self.returncode is not None  # poll() set it
        return self.returncode


def adoptable(pid_file: Path, conf_file: Path, config_text: str) -> AdoptedProcess | None:
    """The broker an earlier hub left running, if it runs our config file unchanged."""
    try:
        pid = int(pid_file.read_text().strip())
        current = conf_file.read_text()
    except (FileNotFoundError, ValueError):
        return None
    if current != config_text or not _runs_conf(pid, conf_file):
        return None
    return AdoptedProcess(pid, conf_file)


def stop_stale(pid_file: Path, conf_file: Path, timeout: float) -> None:
    """Stop a mosquitto left running by an earlier hub process that died without stopping it.

    Such an orphan holds the port and the persistence database, so a new start would fail.
    The pid in `pid_file` is only signalled if that process's command line names our own
    `conf_file`: a reused pid never makes us kill a stranger.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if not _runs_conf(pid, conf_file):
        pid_file.unlink(missing_ok=True)
        return
    log.warning("stopping mosquitto pid %d left running by an earlier hub process", pid)
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _runs_conf(pid, conf_file):
        if time.monotonic() >= deadline:
            log.warning("mosquitto pid %d ignored SIGTERM; killing it", pid)
            _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(_POLL_SECONDS)
    pid_file.unlink(missing_ok=True)


def tail_logs(paths: Iterable[Path], lines: int = 15) -> str:
    """The last lines of each log file that has any, for error messages."""
    parts = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        last = text.splitlines()[-lines:]
        if last:
            parts.append(f"last lines of {path}:\n" + "\n".join(f"  {line}" for line in last))
    return "\n".join(parts) if parts else "(mosquitto wrote no log)"


def _accepts(endpoint: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(endpoint, timeout=0.5):
            return True
    except OSError:
        return False


def _runs_conf(pid: int, conf_file: Path) -> bool:
    """True if `pid` is a live process started with `-c conf_file` (zombies have no cmdline)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    target = os.fsencode(str(conf_file))
    return any(a == b"-c" and b == target for a, b in itertools.pairwise(args))


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    try:  # reap it if it happens to be our own child, so it does not linger as a zombie
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
