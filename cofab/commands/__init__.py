"""`cofab` sub-commands, one module per group. Each module has `register(subparsers)`; the CLI
finds them all here, so adding a command group never edits a shared file."""
