"""API tokens with roles: every endpoint names the roles it accepts.

A token carries one role (`roles.Role`: designer, lab, maker, city, admin) and, for a lab, the
node it speaks for. The database keeps only the token's sha256; the plain token is shown once.
- `service`: issue tokens (`create_token`; `ensure_token` for the hub's own) and check them
  (`authenticate` gives the caller's `Principal`);
- `models`: the token table; `views`: `POST /api/v1/tokens`, for admins.
Routes ask for a caller or a role through `hub.deps` (`Caller`, `require(...)`); lab tokens
are issued with the lab's registration (`hub.nodes`), and the web pages keep a token in a
cookie (`hub.web`).
"""
