"""Slice a mesh to G-code with PrusaSlicer, headless, as a subprocess.

Why a subprocess with a timeout and not a library: PrusaSlicer is a C++ program that aborts
the whole process on some errors (exit 134, SIGABRT, for a part that does not fit the bed),
may run long on a hostile mesh, and peaks near 100 MB; isolating it keeps the node agent
alive whatever it does, and a timeout keeps the machine queue moving.

What this module handles for the agent:
- which binary (`find_prusa_slicer`: $COFAB_PRUSA_SLICER, else `prusa-slicer` on PATH);
- the input's extension: PrusaSlicer picks its reader by extension, but the node stores
  downloads by content hash, so the format is sniffed from the content (designs.formats) and
  the slicer is given a link with the right extension;
- the output appears atomically: G-code is written beside `output_path` under a temporary
  name and renamed on success, so a failed or killed slice never leaves half a G-code file
  that a printer could start;
- errors: one line for people, from PrusaSlicer's output without its [trace] noise.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from designs.formats import extension_for, sniff_file

__all__ = [
    "DEFAULT_PROFILE",
    "ENV_PRUSA_SLICER",
    "DoesNotFitBedError",
    "SliceResult",
    "SlicerError",
    "SlicerNotFoundError",
    "SlicerTimeoutError",
    "find_prusa_slicer",
    "profile_bed_center",
    "profile_build_volume",
    "read_estimated_print_time",
    "read_profile",
    "slice_mesh",
]

log = logging.getLogger(__name__)

#: Environment variable naming the PrusaSlicer executable (a path or a name on PATH).
ENV_PRUSA_SLICER = "COFAB_PRUSA_SLICER"
#: The profile shipped with cofab: generic Marlin FDM printer, 220x220x250 mm, PLA.
DEFAULT_PROFILE = Path(__file__).resolve().parent / "profiles" / "generic_fdm_pla.ini"

# the G-code footer's statistics sit before PrusaSlicer's ~15 KB config dump
_FOOTER_BYTES = 128 * 1024
_ESTIMATE = re.compile(
    rb"^; estimated printing time(?: \((?P<mode>[a-z ]+) mode\))? = (?P<value>[^\r\n]+)$",
    re.MULTILINE,
)
_DURATION_PART = re.compile(r"(\d+)\s*([dhms])")
_DURATION_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# "[2026-11-25 23:04:20.033027] [0x00007f35c8672d80] [error]   message"
_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*\[0x[0-9a-fA-F]+\]\s*\[(?P<level>\w+)\]\s*")
_PROGRESS = re.compile(r"^\d+ => ")
_NOT_FIT = "could not fit on the bed"


class SlicerError(RuntimeError):
    """Slicing failed; `str(error)` is one line for the lab's staff and the job's events."""


class SlicerNotFoundError(SlicerError):
    """No PrusaSlicer executable where we looked: the node is not set up to slice."""


class SlicerTimeoutError(SlicerError):
    """PrusaSlicer ran longer than allowed and was killed."""


class DoesNotFitBedError(SlicerError):
    """PrusaSlicer refused the part because it does not fit the profile's bed."""


@dataclass(frozen=True, slots=True)
class SliceResult:
    """A finished slice.

    gcode_path: where the G-code is (the `output_path` asked for).
    seconds: wall-clock time PrusaSlicer took.
    gcode_bytes: size of the G-code file.
    estimated_print_time: PrusaSlicer's estimate as written in the G-code footer, e.g.
      "1h 2m 3s"; None if the footer has none.
    estimated_print_s: the same in seconds, for queue planning; None likewise.
    """

    gcode_path: Path
    seconds: float
    gcode_bytes: int
    estimated_print_time: str | None
    estimated_print_s: int | None


def find_prusa_slicer(environ: Mapping[str, str] | None = None) -> str:
    """Return the path of the PrusaSlicer executable, or raise SlicerNotFoundError.

    $COFAB_PRUSA_SLICER (a path or a command name) wins when set, so a lab can point at an
    AppImage or a newer build; otherwise `prusa-slicer` on PATH (the Debian/Ubuntu package).
    environ: the environment to read (defaults to os.environ); PATH is taken from it too.
    """
    env = os.environ if environ is None else environ
    search_path = env.get("PATH")
    configured = env.get(ENV_PRUSA_SLICER, "").strip()
    if configured:
        found = shutil.which(configured, path=search_path)
        if found is None:
            raise SlicerNotFoundError(
                f"{ENV_PRUSA_SLICER} is set to {configured!r}, but there is no executable PrusaSlicer there"
            )
        return found
    found = shutil.which("prusa-slicer", path=search_path)
    if found is None:
        raise SlicerNotFoundError(
            "PrusaSlicer is not installed: no 'prusa-slicer' on PATH (install the "
            f"prusa-slicer package or set {ENV_PRUSA_SLICER} to its executable)"
        )
    return found


def read_profile(profile: Path) -> dict[str, str]:
    """Read a flat PrusaSlicer .ini profile ("key = value" lines, "#" comments) as strings."""
    values: dict[str, str] = {}
    for line in Path(profile).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _bed_polygon(values: Mapping[str, str]) -> list[tuple[float, float]]:
    try:
        points = [tuple(float(c) for c in p.split("x")) for p in values["bed_shape"].split(",")]
        return [(x, y) for x, y in points]
    except (KeyError, ValueError) as exc:
        raise SlicerError(f"the slicer profile has no valid bed_shape ({exc})") from exc


def profile_build_volume(profile: Path = DEFAULT_PROFILE) -> tuple[float, float, float]:
    """(3,) float: the X, Y, Z size in mm a profile can print (bed bounding box, max height).

    Lets a node report the same build volume it will slice with (MachineStatus) and check
    fit before slicing."""
    values = read_profile(profile)
    bed = _bed_polygon(values)
    xs, ys = [p[0] for p in bed], [p[1] for p in bed]
    try:
        height = float(values["max_print_height"])
    except (KeyError, ValueError) as exc:
        raise SlicerError(f"the slicer profile has no valid max_print_height ({exc})") from exc
    return (max(xs) - min(xs), max(ys) - min(ys), height)


def profile_bed_center(profile: Path = DEFAULT_PROFILE) -> tuple[float, float]:
    """(2,) float: the centre of a profile's bed bounding box, in machine coordinates (mm)."""
    bed = _bed_polygon(read_profile(profile))
    xs, ys = [p[0] for p in bed], [p[1] for p in bed]
    return ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)


def read_estimated_print_time(gcode_path: Path) -> str | None:
    """PrusaSlicer's print-time estimate from a G-code footer, e.g. "1h 2m 3s", or None.

    Reads only the file's tail. Prefers the normal-mode estimate over the silent-mode one.
    """
    with Path(gcode_path).open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - _FOOTER_BYTES))
        tail = f.read()
    matches = list(_ESTIMATE.finditer(tail))
    if not matches:
        return None
    normal = [m for m in matches if m.group("mode") in (None, b"normal")]
    return (normal or matches)[0].group("value").decode("ascii", "replace").strip()


def _duration_seconds(text: str | None) -> int | None:
    """ "1d 2h 3m 4s" -> 93784; None when `text` holds no duration."""
    if not text:
        return None
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    return sum(int(n) * _DURATION_SECONDS[unit] for n, unit in parts)


def _input_with_extension(mesh_path: Path, workdir: Path) -> Path:
    """A path to `mesh_path` whose extension matches its content, for PrusaSlicer.

    Raises designs' DesignFileError subclasses when the file is not a mesh we take: the
    file's fault, for the agent to decline with that reason."""
    fmt = sniff_file(mesh_path)
    ext = extension_for(fmt)
    if mesh_path.suffix.lower() == ext:
        return mesh_path
    linked = workdir / f"model{ext}"
    try:
        linked.symlink_to(mesh_path)
    except OSError:  # no symlinks (some file systems): copy instead
        shutil.copyfile(mesh_path, linked)
    log.debug("giving PrusaSlicer %s as %s (content is %s)", mesh_path, linked, fmt)
    return linked


def _meaningful_lines(*outputs: str) -> list[str]:
    """PrusaSlicer's output minus the [trace]/[debug]/[info] noise and progress lines."""
    lines: list[str] = []
    for output in outputs:
        for raw in output.splitlines():
            line = raw.strip()
            if not line or _PROGRESS.match(line):
                continue
            prefix = _LOG_PREFIX.match(line)
            if prefix:
                if prefix.group("level") in ("trace", "debug", "info"):
                    continue
                line = line[prefix.end() :]
            if line.startswith("terminate called after throwing"):
                continue
            if line.startswith("what():"):
                line = line[len("what():") :].strip()
            lines.append(line)
    return lines


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _failure(returncode: int, stdout: str, stderr: str) -> SlicerError:
    """The SlicerError for a failed run. Prefers stderr, where PrusaSlicer puts its errors."""
    lines = _meaningful_lines(stderr) or _meaningful_lines(stdout)
    if any(_NOT_FIT in line.lower() for line in lines):
        return DoesNotFitBedError(
            "the part does not fit the bed of this printer profile (PrusaSlicer: Objects could not fit on the bed)"
        )
    reason = lines[-1] if lines else "no error message"
    if len(reason) > 300:
        reason = reason[:297] + "..."
    return SlicerError(f"PrusaSlicer failed ({_exit_description(returncode)}): {reason}")


def slice_mesh(
    mesh_path: Path,
    output_path: Path,
    *,
    profile: Path | None = None,
    bed_center_mm: tuple[float, float] | None = None,
    timeout_s: float = 300,
    slicer: str | None = None,
) -> SliceResult:
    """Slice the STL/3MF/OBJ at `mesh_path` into G-code at `output_path`.

    profile: PrusaSlicer .ini to load; None means `DEFAULT_PROFILE` (the shipped generic
      Marlin PLA profile, never PrusaSlicer's own RepRap defaults).
    bed_center_mm: (2,) where to centre the part; None lets PrusaSlicer arrange it around
      the centre of the profile's bed.
    timeout_s: wall-clock limit; PrusaSlicer is killed beyond it.
    slicer: the executable; None means `find_prusa_slicer()`.

    Runs `prusa-slicer --loglevel=1 --load PROFILE --export-gcode [--center=X,Y] --output OUT
    IN`. `output_path` appears only on success (atomic rename); its folder is created.

    Raises SlicerNotFoundError, SlicerTimeoutError, DoesNotFitBedError, SlicerError (other
    failures, one line from PrusaSlicer's stderr), and designs.DesignFileError subclasses
    when the input is not a mesh file cofab takes.
    """
    mesh_path = Path(mesh_path).absolute()  # absolute: a name like "-x.stl" is no option
    output_path = Path(output_path).absolute()
    profile = Path(profile).absolute() if profile is not None else DEFAULT_PROFILE
    if not profile.is_file():
        raise SlicerError(f"the slicer profile {str(profile)!r} does not exist")
    if not mesh_path.is_file():
        raise SlicerError(f"the file to slice {str(mesh_path)!r} does not exist")
    executable = slicer or find_prusa_slicer()
    output_path.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="cofab-slice-") as workdir:
        model = _input_with_extension(mesh_path, Path(workdir))
        # the partial G-code lives beside the target, so the final rename is atomic
        fd, partial_name = tempfile.mkstemp(
            dir=output_path.parent, prefix=f".{output_path.stem}.", suffix=".part.gcode"
        )
        os.close(fd)
        partial = Path(partial_name)
        command = [executable, "--loglevel=1", "--load", str(profile), "--export-gcode"]
        if bed_center_mm is not None:
            x, y = (float(v) for v in bed_center_mm)
            # one "--center=X,Y" word: a separate "-10,5" would be read as an option
            command.append(f"--center={x:g},{y:g}")
        command += ["--output", str(partial), str(model)]
        log.info("slicing %s with %s", mesh_path, profile.name)
        log.debug("running %s", command)
        started = time.monotonic()
        try:
            completed = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
            seconds = time.monotonic() - started
            stdout = completed.stdout.decode("utf-8", "replace")
            stderr = completed.stderr.decode("utf-8", "replace")
            if completed.returncode != 0:
                raise _failure(completed.returncode, stdout, stderr)
            if not partial.is_file() or partial.stat().st_size == 0:
                raise SlicerError("PrusaSlicer reported success but wrote no G-code")
            os.replace(partial, output_path)
        except subprocess.TimeoutExpired as exc:
            raise SlicerTimeoutError(
                f"PrusaSlicer did not finish within {timeout_s:g} s and was stopped; the "
                "model may be too complex for this node"
            ) from exc
        except (FileNotFoundError, PermissionError) as exc:
            if exc.filename == executable or not Path(executable).exists():
                raise SlicerNotFoundError(f"cannot run PrusaSlicer at {executable!r}: {exc.strerror}") from exc
            raise
        finally:
            partial.unlink(missing_ok=True)

    estimate = read_estimated_print_time(output_path)
    result = SliceResult(
        gcode_path=output_path,
        seconds=seconds,
        gcode_bytes=output_path.stat().st_size,
        estimated_print_time=estimate,
        estimated_print_s=_duration_seconds(estimate),
    )
    log.info(
        "sliced %s in %.2f s: %d bytes of G-code, estimated print time %s",
        mesh_path.name,
        result.seconds,
        result.gcode_bytes,
        estimate,
    )
    return result
