"""The hub's MQTT broker: a supervised Mosquitto with generated configuration and users.

Each node logs in with its node id and a generated password and may read only its own job
topic and write only its own status and events; the hub user may use every topic. What the
code relies on in Mosquitto is in docs/mqtt.md.

Start with `MosquittoSupervisor` (`supervisor`): it writes the files, starts the broker,
reloads it with SIGHUP when nodes are added and restarts it if it dies.
- `config`: `BrokerSettings` and the generated `mosquitto.conf`;
- `credentials`: the broker's users and their password hashes in the data directory;
- `passwords`: Mosquitto's `$7$` password-file lines, computed in Python; `acl`: the ACL file;
- `process`: one mosquitto process (find, spawn, wait for its ports, stop); `files`: atomic writes.
"""

from hub.broker.acl import render_acl
from hub.broker.config import BrokerSettings, render_config
from hub.broker.credentials import BrokerCredentials
from hub.broker.passwords import generate_password, hash_password, password_line, verify_password
from hub.broker.process import BrokerError, find_mosquitto
from hub.broker.supervisor import MosquittoSupervisor

__all__ = [
    "BrokerCredentials",
    "BrokerError",
    "BrokerSettings",
    "MosquittoSupervisor",
    "find_mosquitto",
    "generate_password",
    "hash_password",
    "password_line",
    "render_acl",
    "render_config",
    "verify_password",
]
