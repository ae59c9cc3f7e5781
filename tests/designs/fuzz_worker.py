"""Feed random and mutated files to every design loader; report any that is not refused
cleanly. Run in a child process with memory and time limits by test_design_fuzz.py:

    python tests/designs/fuzz_worker.py --seed 1 --inputs 300 --out DIR

Seeds are small valid files of every kind cofab reads (generated here, plus small files of
the test corpus when present, docs/corpus.md). Each input is a seed mutated by a seeded random generator:
bit flips, byte overwrites with boundary values, truncation, insertion, duplication, a
splice of two files, a rewritten binary-STL triangle count, a mutated 3MF model re-zipped
(so the XML parser, not only the ZIP reader, sees damage), or plain random bytes.

Every loader must either succeed or raise DesignFileError: sniff_format, sniff_any,
load_mesh, analyze_mesh, load_outline, repair_mesh. Anything else (another exception, a
hang past the per-input alarm, a MemoryError under the address-space limit) is a failure;
the input is written to --out for reproduction. The last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import resource
import signal
import sys
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

#: Address-space limit of the worker: a loader that tries to allocate gigabytes for a
#: small hostile file fails here instead of swapping the machine.
ADDRESS_SPACE_BYTES = 6 << 30
#: Seconds one input may take through all loaders.
INPUT_SECONDS = 20
#: Corpus files up to this size become seeds.
MAX_SEED_BYTES = 120_000

BOUNDARY_BYTES = (b"\x00", b"\xff", b"\x7f", b"\x80", b"9", b"-", b"e", b"\n", b"<", b">", b'"', b"&")


def generated_seeds() -> dict[str, bytes]:
    import ezdxf
    import trimesh

    box = trimesh.creation.box(extents=(20, 20, 20))
    sphere = trimesh.creation.icosphere(subdivisions=1, radius=5)
    sphere.apply_translation((30, 0, 0))
    parts = trimesh.util.concatenate([box, sphere])
    seeds = {
        "box.stl": trimesh.exchange.stl.export_stl(box),
        "parts.stl": trimesh.exchange.stl.export_stl(parts),
        "box-ascii.stl": trimesh.exchange.stl.export_stl_ascii(box).encode(),
        "parts.obj": trimesh.exchange.obj.export_obj(parts).encode(),
        "box.3mf": trimesh.exchange.threemf.export_3MF(box),
        "plate.svg": (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="100mm" height="50mm" viewBox="0 0 100 50">'
            b'<rect x="5" y="5" width="40" height="30"/><circle cx="70" cy="25" r="10"/>'
            b'<path d="M 10 40 C 20 45 30 35 40 40 A 5 5 0 0 1 50 40 Z"/></svg>'
        ),
    }
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0), (40, 0, 0, 0, 0.5), (40, 20), (0, 20)], close=True)
    msp.add_circle((20, 10), radius=4)
    msp.add_line((50, 0), (60, 10))
    stream = io.StringIO()
    doc.write(stream)
    seeds["plate.dxf"] = stream.getvalue().encode()
    return seeds


def corpus_seeds(corpus: Path | None) -> dict[str, bytes]:
    if corpus is None or not corpus.is_dir():
        return {}
    return {
        path.name: path.read_bytes()
        for path in sorted(corpus.rglob("*"))
        if path.is_file()
        and path.suffix.lower() in {".stl", ".obj", ".3mf", ".svg", ".dxf"}
        and 0 < path.stat().st_size <= MAX_SEED_BYTES
    }


def mutate_3mf(data: bytes, rng: random.Random) -> bytes:
    """Mutate the model XML inside a 3MF and re-zip it, so the damage reaches the parser."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
    except Exception:
        return flip_bits(data, rng)
    model = next((name for name in members if name.lower().endswith(".model")), None)
    if model is not None:
        members[model] = rng.choice(BYTE_MUTATIONS)(members[model], rng)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data or b"\x00")
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def overwrite(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data or b"\x00")
    for _ in range(rng.randint(1, 6)):
        i = rng.randrange(len(buf))
        value = rng.choice(BOUNDARY_BYTES)
        buf[i : i + len(value)] = value
    return bytes(buf)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def insert(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.randbytes(rng.randint(1, 64)) + data[i:]


def duplicate(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 400))
    return data[:j] + data[i:j] * rng.randint(1, 4) + data[j:]


def stl_count(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 84:
        return data
    count = rng.choice([0, 1, 2**31, 2**32 - 1, (len(data) - 84) // 50 + rng.randint(-2, 2)])
    return data[:80] + (count % 2**32).to_bytes(4, "little") + data[84:]


BYTE_MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    flip_bits,
    overwrite,
    truncate,
    insert,
    duplicate,
]


def make_input(seeds: dict[str, bytes], rng: random.Random) -> tuple[str, bytes]:
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    roll = rng.random()
    if roll < 0.05:
        return "random.bin", rng.randbytes(rng.choice([10, 84, 134, 700, 5000]))
    if roll < 0.15:
        other = seeds[rng.choice(sorted(seeds))]
        return name, data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
    if name.endswith(".3mf") and roll < 0.45:
        return name, mutate_3mf(data, rng)
    if name.lower().endswith(".stl") and roll < 0.25:
        return name, stl_count(data, rng)
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(BYTE_MUTATIONS)(data, rng)
    return name, data


def loaders() -> list[tuple[str, Callable[[Path, str], object]]]:
    import designs
    from designs.formats import SNIFF_BYTES

    def head(path: Path) -> bytes:
        with path.open("rb") as f:
            return f.read(SNIFF_BYTES)

    return [
        ("sniff_format", lambda p, n: designs.sniff_format(head(p), p.stat().st_size, n)),
        ("sniff_any", lambda p, n: designs.sniff_any(head(p), p.stat().st_size, n)),
        ("load_mesh", lambda p, n: designs.load_mesh(p)),
        ("analyze_mesh", lambda p, n: designs.analyze_mesh(p)),
        ("load_outline", lambda p, n: designs.load_outline(p)),
        ("repair_mesh", lambda p, n: designs.repair_mesh(p)),
    ]


class InputTimeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise InputTimeout(f"an input took more than {INPUT_SECONDS} s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inputs", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True, help="where failing inputs are written")
    parser.add_argument("--corpus", type=Path, help="the test corpus (docs/corpus.md), whose files become seeds too")
    args = parser.parse_args()

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    import logging

    logging.disable(logging.CRITICAL)  # parsers' chatter about bad input is expected here
    from designs import DesignFileError

    seeds = {**generated_seeds(), **corpus_seeds(args.corpus)}
    checks = loaders()
    rng = random.Random(args.seed)
    signal.signal(signal.SIGALRM, _alarm)
    failures: list[dict] = []
    outcomes = {"ok": 0, "refused": 0}
    kinds: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="cofab-fuzz-") as folder:
        for index in range(args.inputs):
            seed_name, data = make_input(seeds, rng)
            path = Path(folder) / f"input-{index}"
            path.write_bytes(data)
            for loader, call in checks:
                signal.alarm(INPUT_SECONDS)
                try:
                    call(path, seed_name)
                    outcomes["ok"] += 1
                except DesignFileError as exc:
                    outcomes["refused"] += 1
                    kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
                except BaseException as exc:
                    digest = hashlib.sha256(data).hexdigest()[:16]
                    args.out.mkdir(parents=True, exist_ok=True)
                    (args.out / f"{digest}-{seed_name}").write_bytes(data)
                    failures.append(
                        {
                            "input": index,
                            "seed_file": seed_name,
                            "sha256_16": digest,
                            "loader": loader,
                            "error": f"{type(exc).__name__}: {exc}"[:300],
                            "where": traceback.format_exc().strip().splitlines()[-3:],
                        }
                    )
                finally:
                    signal.alarm(0)
    summary = {
        "inputs": args.inputs,
        "seeds": len(seeds),
        "calls": args.inputs * len(checks),
        **outcomes,
        "refusals_by_error": kinds,
        "failures": failures,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
