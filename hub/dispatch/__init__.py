"""MQTT dispatch: the transactional outbox, its relay, and the hub's broker session.

A state change and the message announcing it are committed in one transaction (the outbox);
the relay publishes after commit and marks a message sent only when the broker acknowledged
it, so an offer written is an offer sent, at least once, across hub and broker restarts.
What comes back (statuses, job events) is applied to the database before it is acknowledged.
- `outbox`: enqueue in the caller's transaction; claim, release and prune (replicas share the
  table); `models`: its table;
- `relay`: `OutboxRelay`, the publishing thread;
- `mqtt`: `HubMqtt`, the hub's persistent session: statuses in, events through a shared
  subscription among replicas, offers and acknowledgements out (docs/mqtt.md);
- `handlers`: `InboundHandler`, incoming messages to service calls (a malformed one is
  logged and dropped);
- `bulk`: a transaction's new rows written in one statement per table at commit.
"""
