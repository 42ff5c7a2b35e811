"""The `nps-sensor` command. Operational errors end in one line and a non-zero exit."""

from __future__ import annotations

import argparse
import sys

from nps_sensor import __version__, config
from nps_sensor.errors import SensorError

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nps-sensor",
        description="Passive network sensor: inventory of devices and who talks to whom, from mirrored traffic.",
    )
    p.add_argument("--version", action="version", version=f"nps-sensor {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    a = sub.add_parser(
        "analyze",
        help="analyze capture files (pcap, pcapng)",
        description="Decode capture files and report assets, flows and statistics. "
        "Exit status 1 if a capture is damaged (results cover the packets before the damage).",
    )
    a.add_argument("captures", nargs="+", metavar="CAPTURE")
    a.add_argument("--config", "-c", metavar="FILE", help="classification and reporting settings (YAML)")
    a.add_argument("--format", "-f", choices=("json", "ndjson", "table"), default="json")
    a.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "analyze":
            return _analyze(args)
    except SensorError as e:
        print(f"nps-sensor: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nps-sensor: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


def _analyze(args: argparse.Namespace) -> int:
    from nps_sensor.analyze import analyze
    from nps_sensor.output import write

    cfg = config.load(args.config)
    analysis = analyze(args.captures, cfg)
    write(analysis.result, args.format, args.output)
    for err in analysis.errors:
        print(f"nps-sensor: {err}", file=sys.stderr)
    return EXIT_DAMAGED if analysis.errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
