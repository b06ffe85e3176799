"""The ``callbridge`` command: serve | demo | emulator | token | secrets."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
from collections.abc import Sequence
from typing import Any

from callbridge.config import Settings
from callbridge.logs import setup_logging

GATEWAY_FLAGS = tuple(name for name in Settings.model_fields if not name.startswith(("emulator_", "demo_")))


def _add_settings_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for name in names:
        field = Settings.model_fields[name]
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description} (env CALLBRIDGE_{name.upper()})"
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    return Settings(**overrides)


def _database_ready(settings: Settings) -> bool:
    """Migrate and check the secret key before serving: a wrong key is one line on stderr, not a traceback."""
    from callbridge.secret_keys import explain, open_database
    from callbridge.store.secrets import SecretKeyError

    try:
        asyncio.run(open_database(settings))
    except SecretKeyError as exc:
        print(f"error: {explain(settings, exc)}", file=sys.stderr)
        return False
    return True


def _serve(args: argparse.Namespace) -> int:
    from callbridge.api.server import server_config
    from callbridge.app import create_app
    from callbridge.cluster.drain import DrainingServer
    from callbridge.cluster.workers import listen_socket
    from callbridge.debug_heap import install_from_environment

    settings = _settings(args)
    setup_logging(settings.log_level, settings.log_json)
    install_from_environment()  # SIGUSR1 heap dumps, only with CALLBRIDGE_TRACEMALLOC_DUMP_DIR set
    settings.ensure_dirs()
    # Before the database is touched: several nodes on SQLite would each make a database of their own.
    if problem := settings.needs_postgres(nodes=args.workers > 1 or None):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.workers > 1:
        return _serve_workers(args, settings)
    if not _database_ready(settings):
        return 2
    admin_token, generated = settings.load_or_create_admin_token()
    if generated:
        where = settings.data_dir / "admin_token"
        print(f"Generated the admin token (stored in {where}):\n  {admin_token}", flush=True)
    app = create_app(settings, admin_token)
    gateway = app.state.gateway
    # A node of several drains on SIGTERM (the others take its new calls); a lone gateway stops at once.
    server = DrainingServer(
        server_config(app, settings, settings.host, settings.port), gateway.drain if settings.clustered else None
    )
    sockets = [listen_socket(settings.host, settings.port, reuse_port=settings.reuse_port)]
    if settings.node_port and settings.node_port != settings.port:
        sockets.append(listen_socket(settings.host, settings.node_port, reuse_port=False))
    server.run(sockets=sockets)
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    from callbridge.cluster.workers import Workers

    # Once, before the workers start: the migrations and the generated secrets are not raced.
    if not _database_ready(settings):
        return 2
    admin_token, generated = settings.load_or_create_admin_token()
    if generated:
        print(f"Generated the admin token (stored in {settings.data_dir / 'admin_token'}):\n  {admin_token}")
    settings.call_token_key()
    print(f"callbridge: {args.workers} workers on {settings.host}:{settings.port}", flush=True)
    return Workers(settings, args.workers, args.serve_args).run()


async def _create_token(settings: Settings, args: argparse.Namespace) -> str:
    import httpx

    from callbridge.api.models import CloudCredentials
    from callbridge.connectors.kinds import all_connectors
    from callbridge.media.ice import IceSettings
    from callbridge.sessions import SessionService
    from callbridge.store import Database

    cloud: dict[str, Any] | None = None
    if args.phone_number_id:
        cloud = CloudCredentials.model_validate(
            {
                "PhoneNumberID": args.phone_number_id,
                "AccessToken": args.access_token or "",
                "AppSecret": args.app_secret or "",
                "VerifyToken": args.verify_token or "",
                "GraphURL": args.graph_url or "https://graph.facebook.com",
            }
        ).model_dump()
    token = args.token or secrets.token_urlsafe(24)
    db = Database(settings.resolved_database_url(), settings.secret_box())
    try:
        await db.migrate()
        async with httpx.AsyncClient(trust_env=False) as http:
            sessions = SessionService(db, all_connectors(http, IceSettings.parse(None, None)).for_session)
            await sessions.create(args.name, token, args.os or "", cloud)
    finally:
        await db.close()
    return token


def _token(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from callbridge.errors import GatewayError
    from callbridge.secret_keys import explain
    from callbridge.store.secrets import SecretKeyError

    settings = _settings(args)
    setup_logging("WARNING")
    settings.ensure_dirs()
    try:
        token = asyncio.run(_create_token(settings, args))
    except (GatewayError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SecretKeyError as exc:
        print(f"error: {explain(settings, exc)}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    import uvicorn

    from callbridge.emulator.app import EmulatorSettings, create_emulator_app

    settings = _settings(args)
    setup_logging(settings.log_level, settings.log_json)
    emulator = EmulatorSettings(
        host=settings.emulator_host,
        port=settings.emulator_port,
        files_dir=settings.files_dir,
        media_timeout=args.media_timeout,
        accept_timeout=args.accept_timeout,
        ring_timeout=args.ring_timeout,
    )
    print(f"callbridge emulator on http://{emulator.host}:{emulator.port} (control API under /emulator)", flush=True)
    uvicorn.run(
        create_emulator_app(emulator), host=emulator.host, port=emulator.port, log_config=None, access_log=False
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from callbridge.demo import run_demo

    settings = _settings(args)
    # The emulator's users are on loopback, a browser on this machine may use any address; and the demo's own
    # narration should not drown in request logs.
    defaults = {"ice_hosts": "127.0.0.1,*", "log_level": "WARNING"}
    settings = settings.model_copy(update={k: v for k, v in defaults.items() if k not in settings.model_fields_set})
    setup_logging(settings.log_level, settings.log_json)
    settings.ensure_dirs()
    if not _database_ready(settings):
        return 2
    # The demo provisions its session itself: the admin token stays in the data dir, unprinted.
    admin_token, _ = settings.load_or_create_admin_token()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(settings, admin_token))
    return 0


def _secrets_rotate(args: argparse.Namespace) -> int:
    from callbridge.secret_keys import explain, rotate
    from callbridge.store.secrets import SecretKeyError

    settings = _settings(args)
    setup_logging("WARNING")
    settings.ensure_dirs()
    try:
        print(asyncio.run(rotate(settings)))
    except SecretKeyError as exc:
        print(f"error: {explain(settings, exc)}", file=sys.stderr)
        return 2
    return 0


def _secrets_new_key(_: argparse.Namespace) -> int:
    from callbridge.store.secrets import SecretBox

    print(SecretBox.new_key())
    return 0


def _without_workers(argv: list[str]) -> list[str]:
    """``serve``'s arguments for one worker: the same, less ``--workers``."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return kept


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    _add_settings_flags(serve, GATEWAY_FLAGS)
    serve.add_argument(
        "--workers", type=int, default=1, help="run this many nodes sharing the port, one per core (needs PostgreSQL)"
    )
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="run the gateway with the embedded emulator and the softphone")
    _add_settings_flags(demo, tuple(Settings.model_fields))
    demo.set_defaults(run=_demo)

    emulator = commands.add_parser("emulator", help="run the emulator (Meta's Graph API and WhatsApp users)")
    _add_settings_flags(emulator, ("emulator_host", "emulator_port", "files_dir", "log_level", "log_json"))
    emulator.add_argument("--media-timeout", type=float, default=20.0, help="end calls with no audio for this long")
    emulator.add_argument("--accept-timeout", type=float, default=60.0, help="a user's call fails unaccepted after")
    emulator.add_argument("--ring-timeout", type=float, default=60.0, help="a business's call fails unanswered after")
    emulator.set_defaults(run=_emulator)

    token = commands.add_parser("token", help="manage session tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a session and print its token")
    create.add_argument("name", help="session name")
    create.add_argument("--token", help="the token to use (generated when absent)")
    create.add_argument("--os", help="free-form label")
    create.add_argument("--phone-number-id", help="Cloud API phone number id")
    create.add_argument("--access-token", help="Cloud API access token")
    create.add_argument("--app-secret", help="Meta app secret (checks webhook signatures)")
    create.add_argument("--verify-token", help="webhook verify token")
    create.add_argument("--graph-url", help="Graph API base URL")
    _add_settings_flags(create, ("data_dir", "database_url", "secret_key"))
    create.set_defaults(run=_token)

    keys = commands.add_parser("secrets", help="manage the key that encrypts the secrets in the database")
    keys_commands = keys.add_subparsers(dest="secrets_command", required=True)
    rotate = keys_commands.add_parser(
        "rotate", help="re-encrypt every secret with a new key, then forget the old one (stop the gateway first)"
    )
    _add_settings_flags(rotate, ("data_dir", "database_url", "secret_key"))
    rotate.set_defaults(run=_secrets_rotate)
    new_key = keys_commands.add_parser("new-key", help="print a new key, for CALLBRIDGE_SECRET_KEY")
    new_key.set_defaults(run=_secrets_new_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.serve_args = _without_workers(argv[1:])
    return int(args.run(args))
