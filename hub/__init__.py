"""The hub: the cooperative's central service.

It keeps the catalogue of open designs and the registry of fab labs, turns a maker's order
into jobs, matches each job to the nearest lab that can make it, offers it to that lab's node
over MQTT (through a Mosquitto the hub supervises) and follows the node's events until the
part is made. Its REST API and web pages are one FastAPI application; a SQL database
(SQLite, or PostgreSQL for several replicas) is the record of everything.

Entry points:
- `cofab hub run` (cofab/commands/hub.py) reads `hub.config.Settings` from the environment
  (prefix `COFAB_`) and serves `create_app(settings)` with uvicorn, on the hub's own HTTP
  protocol, which hands upload bytes to the app without uvicorn's extra copies;
- `hub.app.create_app(settings)`, the file to open first: mounts every router, installs the
  one mapping of domain errors (`hub.errors`) to HTTP answers, and in its lifespan builds the
  long-lived parts from the settings (database and migrations, the broker, the MQTT session,
  the outbox relay, the lab registry, the periodic sweeps) in order, stopping them in reverse;
- `hub.deps`: every request dependency (database session, services, caller, roles), declared
  once.

Domain folders, each with as many of these as it needs: `models` (tables), `schemas` (API
shapes; a table is never returned), `service` (logic on a `Session`, no FastAPI), `views`
(thin routes):
- `auth`: API tokens with one role each;
- `catalog`: designs and their immutable versions, licences, remix lineage, uploads and their
  analysis, search, Open Know-How;
- `files`: the content-addressed file store and the signed tokens nodes download with;
- `nodes`: lab registration, membership, broker credentials, live status, Open Know-Where;
- `orders`: quotes, orders and the jobs they become, cancellation, what makers and labs see;
- `routing`: the in-memory lab registry, the hard checks, ranking, prices and fairness;
- `dispatch`: getting jobs to labs and hearing back: the transactional outbox and its relay,
  the hub's MQTT session, incoming node messages;
- `broker`: the supervised Mosquitto with its generated configuration, passwords and ACL;
- `metrics`: city figures from job records, with CSV and GeoJSON exports;
- `web`: the server-rendered pages of the four faces (maker, designer, lab, city) and their
  live streams.

Beside them: `config` (the one `Settings`), `db` (engines, sessions, advisory locks),
`migrate` and `migrations/` (Alembic, run at start-up), `models` (every table, for Alembic),
`maintenance` (periodic work on every replica), `ids`, `timeutil`, `gc_tuning`.
docs/architecture.md says how the parts meet.
"""
