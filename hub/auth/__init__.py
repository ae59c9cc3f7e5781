"""API tokens with roles: every endpoint names the roles it accepts."""
