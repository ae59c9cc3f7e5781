"""Fab labs (nodes) and their machines: registration, membership, credentials, live status.

A lab is registered by an admin (or imported from an Open Know-Where record) and joins as
pending; an admin, or active member labs, approve it. Registration returns its API token and
broker password once. Each change is committed to the database first, then copied into the
in-memory registry the matcher reads (`hub.routing`).
- `service`: registration, approval and membership, statuses applied from the node's
  retained status messages, and the reads (`list_nodes`, `get_node`); `BrokerAccounts` is what
  issues a lab's broker login (the supervised Mosquitto's password file);
- `okw`: a lab as an Open Know-Where facility record and back (docs/okw.md);
- `models`: labs, machines, approvals; `schemas`: API shapes; `views`: `/api/v1/nodes`.
"""
