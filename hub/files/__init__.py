"""Content-addressed file store and the short-lived tokens nodes use to download from it.

A file is stored once under its sha256, however many designs use it, and a node can verify
what it downloaded against the hash in its job offer.
- `store`: `FileStore`, staging a stream while hashing it, then committing it by hash;
- `holds`: holds on stored objects for the length of a database transaction, so clean-up
  never deletes what an upload is about to record (a table in-process on SQLite, advisory
  locks on PostgreSQL);
- `tokens`: HMAC-signed download tokens bound to a file's hash and an expiry (no token table);
- `views`: `GET /api/v1/files/<sha256>?token=...`, the download route nodes use.
"""
