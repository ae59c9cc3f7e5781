"""`cofab hub run|token`: the central service."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    hub = sub.add_parser("hub", help="the central service").add_subparsers(dest="hub_command", required=True)
    run = hub.add_parser("run", help="serve the hub API (settings from COFAB_* environment variables)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_run)
    token = hub.add_parser("token", help="issue an API token directly in the hub database")
    token.add_argument("--role", required=True, choices=["designer", "lab", "maker", "city", "admin"])
    token.add_argument("--name", required=True)
    token.add_argument("--json", action="store_true", help="print the token as JSON on the last line")
    token.set_defaults(func=_token)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.config import Settings
    from hub.gc_tuning import settle_after_startup
    from hub.http_protocol import uvicorn_options

    app = create_app(Settings())
    settle_after_startup()  # everything imported and built by now lives as long as the process
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        **uvicorn_options(),
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from hub import migrate
    from hub.auth.roles import Role
    from hub.auth.service import create_token
    from hub.config import Settings
    from hub.db import make_engine

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    with Session(make_engine(settings.resolved_database_url), expire_on_commit=False) as session:
        record, token = create_token(session, role=Role(args.role), name=args.name)
        session.commit()
    result = {"id": record.id, "name": args.name, "role": args.role, "token": token}
    print(json.dumps(result) if args.json else f"{args.role} token for {args.name}: {token}")
    return 0
