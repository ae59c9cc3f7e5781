"""The fab-lab node agent: the process a lab runs beside its machines.

It connects out to the hub's broker (nothing needs to reach into the lab's network), takes
job offers, downloads and checks each file, accepts or declines, then makes the G-code and
runs it on a machine through `firmware_bridge`, reporting events until the job ends. Every
step is written to a local journal first, so a crash or restart neither loses a job nor
starts one twice.

Entry points: `cofab node run --config node.toml` (cofab/commands/node.py; an example file is
examples/node.toml) loads `config.load_config` and runs `agent.NodeAgent` until SIGINT or
SIGTERM (`start()`, `stop()`). Open `agent` first. `NodeAgent` builds each machine's driver
through its `driver_factory` (default `firmware_bridge.create_driver`), the seam for other
drivers.

- `agent`: the MQTT session; offers and commands in; an offer's way to an accepted job;
- `config`: the node's TOML file: who it is, where it is, its broker login, its machines;
- `download`: fetch an offer's file with its short-lived token, verify its sha256;
- `checks`: the node's own checks of the file against its machines, with the reason to decline;
- `machines`: one worker thread per machine: make the G-code, add the header, run the safety
  check, wait for a start slot, run the job and report its progress;
- `slicer`: PrusaSlicer as a child process (docs/prusaslicer.md); `profiles/`: the shipped profile;
- `laser`: SVG/DXF outlines to GRBL laser G-code for one material;
- `gcode_header`: the attribution header every G-code file carries;
- `journal`: the SQLite journal of offers, job progress and events not yet acknowledged;
- `events`: job events out, numbered and kept until the hub acknowledges them;
- `status`: the retained status message (online, machines and what they can do now).
"""
