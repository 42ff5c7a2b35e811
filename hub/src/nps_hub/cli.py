"""The `nps-hub` command. Operational errors end in one line and a non-zero exit."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import ssl
import sys
from typing import TYPE_CHECKING, Any

from nps_hub import __version__
from nps_hub.errors import HubError
from nps_hub.settings import DEFAULT_DATA, DEFAULT_PORT, Settings, check_keep_days, from_env

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

EXIT_OK, EXIT_USAGE = 0, 2


def parser() -> argparse.ArgumentParser:
    # --data and --database are accepted before or after the command (`nps-hub user NAME --data DIR`).
    # Given after it, a subcommand's default must not overwrite the value given before: SUPPRESS.
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help=f"data directory (default $NPS_HUB_DATA or {DEFAULT_DATA})",
    )
    data.add_argument(
        "--database",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (default $NPS_HUB_DATABASE, else SQLite in the data directory); "
        "postgresql://USER@HOST/DB for PostgreSQL (a password belongs in ~/.pgpass or $PGPASSWORD, not here)",
    )
    p = argparse.ArgumentParser(prog="nps-hub", description="Management hub for nps-sensor appliances.", parents=[data])
    p.add_argument("--version", action="version", version=f"nps-hub {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve_parser(sub, data)
    sub.add_parser("migrate", parents=[data], help="bring the database schema up to date and exit")
    u = sub.add_parser(
        "user",
        parents=[data],
        help="add a user or set a password",
        description="The password is read from a prompt or stdin.",
    )
    u.add_argument("name", help="the user's name")
    u.add_argument(
        "--role", choices=("administrator", "operator", "viewer"), help="a new user's is viewer unless given"
    )
    u.add_argument("--admin", action="store_true", help="the same as --role administrator (manages users and sensors)")
    c = sub.add_parser("sensor", help="sensors: add one (its personalization code), list them")
    sensor_sub = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sensor_sub.add_parser(
        "add",
        parents=[data],
        help="create a sensor and print its personalization code",
        description="Create a sensor and print its personalization code (valid 7 days; NPS_HUB_CODE_TTL seconds).",
    )
    add.add_argument("name", help="the sensor's name, unique in the hub")
    add.add_argument("--location", default="", help="where it is (free text)")
    add.add_argument("--network", default="Default", help="the network its assets belong to (default Default)")
    ls = sensor_sub.add_parser("list", parents=[data], help="the sensors, their status and last heartbeat")
    ls.add_argument("--json", action="store_true", help="as JSON")
    return p


def _serve_parser(sub: Any, data: argparse.ArgumentParser) -> None:
    """`nps-hub serve`'s options."""
    s = sub.add_parser(
        "serve",
        parents=[data],
        help="serve the hub: the sensors' API, the web UI and the JSON API",
        description="Serve the hub: the sensors' API, the web UI and the JSON API. "
        "The first administrator: NPS_HUB_ADMIN_PASSWORD (and NPS_HUB_ADMIN_USER) at the first start.",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    s.add_argument("--tls-cert", metavar="FILE", help="certificate chain (PEM) for HTTPS")
    s.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    s.add_argument(
        "--self-signed",
        action="store_true",
        help="HTTPS with a certificate of the hub's own, made once in the data directory; "
        "its SHA-256 is printed for the sensors to pin",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="hub processes (default 1); more than one needs PostgreSQL, whose locks they share",
    )
    s.add_argument(
        "--flows-keep-days",
        type=int,
        metavar="DAYS",
        help="days the traffic records of a report are kept after it arrived, 0 for ever "
        "(default $NPS_HUB_FLOWS_KEEP_DAYS or 30); the per-minute totals at least 30 (the dashboard's charts)",
    )
    s.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="HOST",
        help="with --self-signed: a name or address the sensors use for the hub (repeatable)",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = from_env(getattr(args, "data", None), getattr(args, "database", None))
        if args.command == "serve":
            return _serve(args, settings)
        from nps_hub import db as dbmod

        settings.prepare()
        engine = dbmod.engine_for(settings.url)
        dbmod.migrate(engine)
        if args.command == "migrate":
            print(f"nps-hub: database {dbmod.redact(settings.url)} is up to date")
            return EXIT_OK
        if args.command == "user":
            return _user(args, dbmod.sessions(engine))
        if args.command == "sensor" and args.action == "list":
            return _sensors(args, settings, dbmod.sessions(engine))
        if args.command == "sensor":
            return _sensor(args, settings, dbmod.sessions(engine))
    except HubError as e:
        print(f"nps-hub: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nps-hub: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from nps_hub import workers
    from nps_hub.server import MIGRATED_ENV, build, prepare

    if bool(args.tls_cert) != bool(args.tls_key):
        raise HubError("HTTPS needs both --tls-cert and --tls-key")
    if args.workers < 1:
        raise HubError("--workers: at least 1")
    if args.workers > 1 and not settings.database_url.startswith("postgresql"):
        raise HubError("--workers above 1 needs PostgreSQL (--database postgresql://...): SQLite takes one writer")
    if args.self_signed and args.tls_cert:
        raise HubError("--self-signed or --tls-cert/--tls-key, not both")
    if args.flows_keep_days is not None:
        check_keep_days(args.flows_keep_days, "--flows-keep-days")
        settings.flows_keep_days = args.flows_keep_days
    _check_port(args.host, args.port)
    if args.tls_cert:
        _check_tls(args.tls_cert, args.tls_key)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    if args.self_signed:
        from nps_hub.selfsigned import ensure

        settings.prepare()
        cert, key, pin = ensure(settings.data_dir, args.host, args.name)
        args.tls_cert, args.tls_key = str(cert), str(key)
        logging.getLogger("nps-hub").info(
            "certificate %s, SHA-256 %s: give it to the sensors (registration.fingerprint, --fingerprint)", cert, pin
        )
    app: Any = None
    if args.workers == 1:
        app = build(settings)
    else:
        prepare(settings)
    scheme = "https" if args.tls_cert else "http"
    logging.getLogger("nps-hub").info(
        "serving on %s://%s:%d/ (%d process%s)", scheme, args.host, args.port, args.workers,
        "es" if args.workers > 1 else "",
    )  # fmt: skip
    if args.workers > 1:  # each worker builds its own app from the environment; migrated above
        os.environ.update({"NPS_HUB_DATA": str(settings.data_dir), "NPS_HUB_DATABASE": settings.database_url,
                           MIGRATED_ENV: "1", "NPS_HUB_FLOWS_KEEP_DAYS": str(settings.flows_keep_days)})  # fmt: skip
    options: dict[str, Any] = {
        "host": args.host, "port": args.port, "ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key,
        "log_level": "warning", "access_log": False,
        "timeout_graceful_shutdown": 5,  # SIGTERM: idle keep-alive connections do not hold the exit
    }  # fmt: skip
    if args.workers == 1:
        uvicorn.run(app, **options)
    else:  # a listening socket per process (workers.py)
        workers.serve(uvicorn.Config("nps_hub.server:worker_app", factory=True, workers=args.workers, **options))
    return EXIT_OK


def _check_tls(cert: str, key: str) -> None:
    """Read the certificate and key once, before anything starts: the one place they are
    refused (each of several workers would otherwise fail on them with a traceback, and
    be started again, forever)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=lambda: "")  # never a prompt
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        raise HubError(f"cannot serve HTTPS with {cert} and {key}: {e}") from None


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as e:
            raise HubError(
                f"cannot listen on {host}:{port}: {e.strerror} (another hub running? choose --port)"
            ) from None


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("again: ") != first:
            raise HubError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _user(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    from nps_hub import accounts

    password = _read_secret(f"password for {args.name}: ")
    role = "administrator" if args.admin else args.role
    with sessions() as db:
        try:
            user = accounts.set_password(db, args.name, password, role)
        except ValueError as e:
            raise HubError(str(e)) from None
    print(f"nps-hub: user {args.name} saved ({user.role})")
    return EXIT_OK


def _sensor(args: argparse.Namespace, settings: Settings, sessions: sessionmaker[Session]) -> int:
    from pydantic import ValidationError

    from nps_hub import lifecycle, schema, security

    try:
        body = schema.NewSensor(name=args.name, location=args.location, network=args.network)
    except ValidationError as e:
        raise HubError(schema.refusal(e)) from None
    keyed = security.Keyed(settings.secret())
    with sessions() as db:
        try:
            _, code, expires = lifecycle.create(db, keyed, settings.code_ttl, body.name, body.location, body.network)
        except lifecycle.Taken as e:
            raise HubError(str(e)) from None
    print(f"sensor {args.name}: personalization code {code} (valid until {expires:%Y-%m-%d %H:%M} UTC)")
    return EXIT_OK


def _sensors(args: argparse.Namespace, settings: Settings, sessions: object) -> int:
    import json

    from sqlalchemy import select

    from nps_hub import lifecycle
    from nps_hub.models import Sensor

    with sessions() as db:  # type: ignore[operator]
        rows = [
            {
                "id": s.id,
                "name": s.name,
                "status": lifecycle.status(s, settings.offline_after),
                "hostname": s.hostname,
                "address": s.mgmt_ipv4,
                "version": s.version,
                "last_heartbeat": s.last_heartbeat.isoformat() if s.last_heartbeat else None,
                "location": s.location,
            }
            for s in db.scalars(select(Sensor).order_by(Sensor.name))
        ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    header = ("name", "status", "hostname", "address", "version", "last heartbeat", "location")
    table = [header] + [
        tuple(
            str(r[k] or "") for k in ("name", "status", "hostname", "address", "version", "last_heartbeat", "location")
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
