"""The `nps-sensor` command. Operational errors end in one line and a non-zero exit."""

from __future__ import annotations

import argparse
import gc
import os
import sys

from nps_sensor import __version__, config
from nps_sensor.errors import SensorError
from nps_sensor.output import FORMAT_HELP, FORMATS
from nps_sensor.synth import WRAPS

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2


def _file_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands on capture files: analyze and generate."""
    a = sub.add_parser(
        "analyze",
        help="analyze capture files (pcap, pcapng)",
        description="Decode capture files and report assets, flows and statistics. "
        "Exit status 1 if a capture is damaged (results cover the packets before the damage).",
    )
    a.add_argument("captures", nargs="+", metavar="CAPTURE", help="capture files (pcap or pcapng), read in order")
    a.add_argument("--config", "-c", metavar="FILE", help="classification and reporting settings (YAML)")
    a.add_argument("--format", "-f", choices=FORMATS, default="json", help=f"{FORMAT_HELP}; default json")
    a.add_argument("--output", "-o", metavar="FILE", help="write here (mode 0644) instead of standard output")
    g = sub.add_parser(
        "generate",
        help="write a synthetic capture (pcap) of a busy LAN",
        description="Write a deterministic synthetic capture: the same seed gives the same bytes.",
    )
    g.add_argument("output", metavar="OUTPUT", help="the pcap file to write")
    g.add_argument("--packets", "-n", type=int, default=100_000, metavar="N", help="how many (default 100000)")
    g.add_argument("--seed", "-s", type=int, default=1, metavar="S", help="random seed (default 1)")
    g.add_argument("--wrap", choices=WRAPS, default="plain", help="delivery: plain Ethernet, 802.1Q, ERSPAN II")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nps-sensor",
        description="Passive network sensor: inventory of devices and who talks to whom, from mirrored traffic.",
    )
    p.add_argument("--version", action="version", version=f"nps-sensor {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _file_parsers(sub)
    r = sub.add_parser(
        "run",
        help="sense the configured interfaces (the appliance's service)",
        description="Capture from the sniffing interfaces, write reports to the spool on schedule and serve "
        "the local status endpoint. SIGTERM closes the last window; SIGHUP re-reads the configuration.",
    )
    r.add_argument("--config", "-c", metavar="FILE", required=True, help="sensor configuration (YAML)")
    ap = sub.add_parser("appliance", help="appliance settings (first boot, changes)", description="Appliance settings.")
    ap_sub = ap.add_subparsers(dest="action", required=True, metavar="ACTION")
    ap_sub.add_parser("firstboot", help="apply the OVF environment's properties (run by nps-firstboot.service)")
    ap_sub.add_parser(
        "register",
        help="register with the hub the deployment named (run by nps-register.service)",
        description="Register with the hub and code the deployment gave (OVF properties registration.hub, "
        "registration.code and optionally registration.fingerprint). Exit 75 while the hub cannot be reached "
        "(the service tries again), 2 when the hub refuses.",
    )
    apply = ap_sub.add_parser(
        "apply",
        help="change the settings: a JSON document on standard input (the Ansible roles' door)",
        description="Read {hostname, management, proxy, sniffing} as JSON on standard input (secrets never go "
        "in arguments), apply those sections over the current settings, check the whole and write the files. "
        "Prints the outcome as JSON: changed, the changes (secrets masked), the interfaces to reconfigure and "
        "whether the sensor must restart. An invalid setting changes nothing: exit 2 and {error, field}.",
    )
    apply.add_argument("--check", action="store_true", help="write nothing; say what would change")
    apply.add_argument("--root", default="/", metavar="DIR", help="the appliance's root directory (default /)")
    _update_parser(ap_sub)
    c = sub.add_parser(
        "console",
        help="the appliance's own screen: personalize, network, proxy, status, shutdown",
        description="A full-screen text console (arrows, Tab, Space, Enter) for the appliance's tty1 and serial line.",
    )
    c.add_argument("--root", default="/", metavar="DIR", help="the appliance's root directory (default /)")
    c.add_argument(
        "--system-command",
        metavar="CMD",
        help="run `CMD ACTION ARGS...` for reboot, poweroff, network reloads and address checks instead of the "
        "machine's own (tests; default with --root other than /: nothing runs)",
    )
    c.add_argument(
        "--rollback-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="wait this long for a new static address before restoring the previous network settings (default 30)",
    )
    from nps_sensor.uplink.cli import add_parsers

    add_parsers(sub)
    for name, text in (
        ("status", "show the running sensor's state"),
        ("pause", "stop sensing (reports and spool stay)"),
        ("resume", "start sensing again"),
    ):
        s = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        s.add_argument("--config", "-c", metavar="FILE", help="read the status address from this configuration")
        s.add_argument("--address", "-a", metavar="HOST:PORT", help="status endpoint (default 127.0.0.1:8470)")
        s.add_argument("--json", action="store_true", help="the status as JSON")
    return p


def _update_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nps_sensor.appliance import update_cli

    update_cli.add_parser(sub)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "generate":
            return _generate(args)
        if args.command == "run":
            return _run(args)
        if args.command in ("status", "pause", "resume"):
            return _status(args)
        if args.command == "appliance":
            return _appliance(args)
        if args.command == "console":
            return _console(args)
        if args.command in ("register", "uplink", "upload"):
            from nps_sensor.uplink.cli import run as uplink

            return uplink(args)
    except SensorError as e:
        print(f"nps-sensor: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nps-sensor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return EXIT_USAGE


# analyze's young generation: its objects (the modules' at start, then the reports'
# dicts and lists) are long-lived and seldom cyclic, so the collector's passes at
# CPython's default of 700 allocations find almost nothing (1,000 objects in 158
# passes over a 1 M-packet run); 50,000 makes a third as many passes for the same.
ANALYZE_GC_THRESHOLD = 50_000


def _analyze(args: argparse.Namespace) -> int:
    gc.set_threshold(ANALYZE_GC_THRESHOLD, *gc.get_threshold()[1:])
    from nps_sensor.analyze import analyze
    from nps_sensor.capture import open_capture
    from nps_sensor.output import write
    from nps_sensor.progress import Progress

    cfg = config.load(args.config)
    for path in args.captures:  # a capture that cannot be read at all ends the run before any output
        open_capture(path)
    from nps_sensor import phases

    # What start-up made lives to the end: out of the collector's sight, so that its
    # passes over the objects the run makes do not walk the modules' too.
    gc.freeze()
    with Progress("analyzing") as progress:
        analysis = analyze(args.captures, cfg, progress=progress)
    with phases.phase("output"):
        write(analysis.result, args.format, args.output)
    for err in analysis.errors:
        print(f"nps-sensor: {err}", file=sys.stderr)
    return EXIT_DAMAGED if analysis.errors else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    import logging

    from nps_sensor.live.service import run

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    return run(args.config)


def _appliance(args: argparse.Namespace) -> int:
    import logging

    from nps_sensor.appliance import firstboot

    if args.action == "apply":
        return _apply(args)
    if args.action == "update":
        from nps_sensor.appliance import update_cli

        return update_cli.run(args)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    if args.action == "register":
        from nps_sensor.appliance import registration

        return registration.run()
    return firstboot.run()


def _apply(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from nps_sensor.appliance.apply import apply
    from nps_sensor.appliance.settings import SettingsError

    try:
        request = json.loads(sys.stdin.read() or "{}")
        if not isinstance(request, dict):
            raise SettingsError("the input must be a JSON object {hostname, management, proxy, sniffing}")
        outcome = apply(request, Path(args.root), check=args.check)
    except (ValueError, SettingsError) as e:
        field = getattr(e, "field", "")
        message = str(e) if isinstance(e, SettingsError) else f"the input is not JSON: {e}"
        print(json.dumps({"error": message, "field": field}))
        print(f"nps-sensor: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        raise SensorError(f"{e.filename or args.root}: {e.strerror or e} (run as root)") from None
    print(json.dumps(outcome.as_dict()))
    return EXIT_OK


def _console(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nps_sensor.console.actions import Console
    from nps_sensor.console.system import CommandSystem, NoSystem, System
    from nps_sensor.console.ui import App, fit_serial_line

    root = Path(args.root)
    if not root.is_dir():
        raise SensorError(f"--root {args.root}: not a directory")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise SensorError("the console needs a terminal (tty1, a serial line, ssh -t)")
    system: System = CommandSystem(args.system_command) if args.system_command else System()
    if not args.system_command and root.resolve() != Path("/"):
        system = NoSystem()
    fit_serial_line(sys.stdout.fileno())
    App(Console(root, system, args.rollback_seconds)).run()
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    import json

    from nps_sensor.appliance import health
    from nps_sensor.live.status import render, request
    from nps_sensor.uplink.state import DEFAULT_STATE

    address = args.address or config.load(args.config).sensing.status
    body = request(address, None if args.command == "status" else args.command)
    # What the machine says beside what the service says: promiscuous mode, offloads, registration.
    for iface in body.get("interfaces", []):
        iface.update(health.interface(iface["name"]))
    body["registration"] = health.registration(DEFAULT_STATE)
    if getattr(args, "json", False):
        print(json.dumps(body, indent=1))
        return EXIT_OK
    print(render(body))
    for iface in body.get("interfaces", []):
        print(
            f"nic:          {iface['name']} promiscuous {_yes(iface['promiscuous'])}, "
            f"receive offloads off {_yes(iface['offloads_off'])}"
        )
    reg = body["registration"]
    if reg.get("registered"):
        print(f"registration: {reg['hub']} as {reg['name']!r}")
    else:
        print(f"registration: {reg.get('error') or 'not registered'}")
    return EXIT_OK


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "NO")


def _generate(args: argparse.Namespace) -> int:
    from nps_sensor.synth import write_capture

    if args.packets < 0:
        raise SensorError("--packets cannot be negative")
    try:
        count = write_capture(args.output, args.packets, args.seed, args.wrap)
        size = os.path.getsize(args.output)
    except OSError as e:
        raise SensorError(f"{args.output}: cannot write: {e.strerror}") from None
    print(f"{args.output}: {count} packets, {size} bytes")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
