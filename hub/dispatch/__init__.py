"""MQTT dispatch: the transactional outbox, its relay, and the hub's broker session."""
