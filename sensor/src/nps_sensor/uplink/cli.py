"""`nps-sensor register` and `nps-sensor uplink`: their arguments and what they run."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from nps_sensor.errors import SensorError
from nps_sensor.uplink.proxy import DEFAULT_PROXY_FILE
from nps_sensor.uplink.state import DEFAULT_STATE

if TYPE_CHECKING:
    from nps_sensor.uplink.proxy import ProxySettings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = sub.add_parser(
        "register",
        help="register this sensor with a management hub",
        description="Register with the hub using the 14-digit personalization code shown there when the sensor "
        "was created. The code is read from --code-file, else from a prompt or standard input (never from "
        "the command line, where `ps` would show it).",
    )
    g.add_argument("--hub", required=True, metavar="URL", help="the hub, https://HOST[:PORT]")
    g.add_argument(
        "--code-file", metavar="FILE", help="read the code from this file (e.g. /etc/nps-sensor/registration)"
    )
    pin = g.add_mutually_exclusive_group()
    pin.add_argument("--ca", metavar="FILE", help="trust only this certificate (PEM) for the hub (pinned)")
    pin.add_argument(
        "--fingerprint",
        metavar="SHA256",
        help="trust only the hub certificate with this SHA-256 (hex, colons allowed): checked before the code is sent",
    )
    _common(g)
    u = sub.add_parser(
        "uplink",
        help="keep in touch with the hub: heartbeats, actions, configuration, report upload",
        description="Send heartbeats, run the hub's quick actions, apply its configuration and upload the report "
        "spool (each report deleted only once the hub stored it). Runs until SIGTERM.",
    )
    u.add_argument("--config", "-c", metavar="FILE", help="sensor configuration (YAML): spool, status address")
    u.add_argument("--once", action="store_true", help="one heartbeat and one pass over the spool, then exit")
    _common(u)
    up = sub.add_parser(
        "upload",
        help="analyze captures and send their reports to the hub",
        description="Analyze capture files here and send the reports to the hub with this sensor's credential "
        "(--state); with --hub and --code-file, register first. The same captures sent again are stored once.",
    )
    up.add_argument(
        "captures", nargs="+", metavar="CAPTURE", help="capture files (pcap or pcapng), analysed and sent in order"
    )
    up.add_argument("--config", "-c", metavar="FILE", help="classification and reporting settings (YAML)")
    up.add_argument("--hub", metavar="URL", help="register with this hub first (with --code-file)")
    up.add_argument("--code-file", metavar="FILE", help="the personalization code, to register first")
    pin = up.add_mutually_exclusive_group()
    pin.add_argument("--ca", metavar="FILE", help="trust only this certificate (PEM) for the hub (pinned)")
    pin.add_argument("--fingerprint", metavar="SHA256", help="trust only the hub certificate with this SHA-256")
    _common(up)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state", default=DEFAULT_STATE, metavar="FILE", help=f"registration file (default {DEFAULT_STATE})"
    )
    p.add_argument(
        "--proxy-file",
        default=DEFAULT_PROXY_FILE,
        metavar="FILE",
        help=f"proxy settings, NPS_PROXY_* lines (default {DEFAULT_PROXY_FILE}; absent: no proxy)",
    )


def run(args: argparse.Namespace) -> int:
    from nps_sensor.uplink import proxy

    settings = proxy.load(args.proxy_file)
    if getattr(args, "config", None):
        from nps_sensor import config

        p = config.load(args.config).proxy
        if p is not None:  # sensor.yaml names the proxy file: it wins
            settings = proxy.check(p.address, p.port, p.auth, p.user, p.password, p.source or args.config)
    if args.command == "register":
        from nps_sensor.uplink.register import read_code, register

        code = read_code(args.code_file, sys.stdin, prompt=sys.stdin.isatty())
        done = register(args.hub, code, args.state, args.ca, settings, args.fingerprint)
        print(
            f"registered with {done.hub} as sensor {done.name!r}; "
            "start the uplink: `systemctl start nps-uplink` (on the appliance) or `nps-sensor uplink --config FILE`"
        )
        return 0
    if args.command == "upload":
        return _upload(args, settings)
    import logging  # here, not at the top: every command builds this module's parsers

    from nps_sensor.uplink.agent import Agent

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise in the journal
    if not args.once and not args.config:
        raise SensorError("give the sensor's configuration with --config (its spool and status address)")
    return Agent(args.state, args.config, settings).run(once=args.once)


def _upload(args: argparse.Namespace, settings: ProxySettings | None) -> int:
    import os

    from nps_sensor import config
    from nps_sensor.uplink.register import read_code, register
    from nps_sensor.uplink.upload import upload

    if args.hub or args.code_file:
        if not (args.hub and args.code_file):
            raise SensorError("to register first, give both --hub and --code-file")
        if os.path.exists(args.state):
            raise SensorError(f"{args.state}: already registered; leave out --hub and --code-file to upload with it")
        code = read_code(args.code_file, sys.stdin, prompt=False)
        done = register(args.hub, code, args.state, args.ca, settings, args.fingerprint)
        print(f"registered with {done.hub} as sensor {done.name!r}", file=sys.stderr)
    cfg = config.load(args.config)
    out = upload(args.captures, cfg, args.state, settings, progress=lambda line: print(line, file=sys.stderr))
    for error in out.errors:
        print(f"nps-sensor: {error}", file=sys.stderr)
    again = f" ({out.known} of them stored before)" if out.known else ""
    print(f"{out.reports} reports at the hub{again}: {out.assets} assets, {out.flows} flows")
    return 1 if out.errors else 0
