"""`nps-sensor appliance update`: its arguments, and where the work runs.

On the appliance the work runs in a transient systemd unit of its own
(`nps-sensor-update`), whoever asked for it: it restarts the services, and the one that
asked (the console, the uplink acting for the hub) must not take the update down with
it when it is restarted; an SSH session that drops (Ansible) must not either. From a
terminal or Ansible the command waits for the unit and shows its output; the uplink
starts it and goes on (`--detach`), and learns the outcome from the journal.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nps_sensor.errors import SensorError

UNIT = "nps-sensor-update"
EXIT_ROLLED_BACK, EXIT_REFUSED = 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    u = sub.add_parser(
        "update",
        help="install a signed update bundle beside the running sensor; roll back if it does not work",
        description="Check BUNDLE against this appliance's release key, install its version beside the running "
        "one, switch to it, restart the services and check they work as before (the sensing service answers as "
        "the new version, the uplink reaches the hub); otherwise switch back. Registration, configuration and "
        "the report spool are kept. Exit 0 updated, 1 rolled back, 2 refused (nothing changed).",
    )
    u.add_argument("bundle", nargs="?", metavar="BUNDLE", help="the bundle (nps-sensor-VERSION-update.tar)")
    u.add_argument("--downgrade", action="store_true", help="allow a version older than the running one")
    u.add_argument("--detach", action="store_true", help="start the update and return (the uplink's way)")
    # The hub's command to acknowledge (not `command`: that is the top level's dest).
    u.add_argument("--command", dest="hub_command", type=int, metavar="ID", help=argparse.SUPPRESS)
    u.add_argument("--recover", action="store_true", help="roll back an update a restart cut short (at boot)")
    u.add_argument("--status", action="store_true", help="the running version, those installed, the last update")


# The work's modules are imported when it runs: every `nps-sensor` command builds this
# parser, and `analyze` should not pay for an updater's imports at start.
def run(args: argparse.Namespace) -> int:
    import logging
    import shutil

    from nps_sensor.appliance import update, update_layout

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    root = Path("/")
    if args.recover:
        print(update.recover(root))
        return 0
    if args.status:
        last = update.journal(root)
        print(f"running:   {update_layout.running(root)}")
        print(f"installed: {', '.join(update_layout.versions(root))}")
        if last:
            why = f" ({last['reason']})" if last.get("reason") else ""
            print(f"last:      {last.get('state')} {last.get('version')} at {last.get('at')}{why}")
        return 0
    if not args.bundle:
        raise SensorError("give the bundle to install (or --status, --recover)")
    if os.geteuid() != 0:
        raise SensorError("updating the appliance needs root: sudo nps-sensor appliance update ...")
    bundle = Path(args.bundle).resolve()
    if not bundle.is_file():
        raise SensorError(f"{args.bundle}: no such bundle")
    if not update.in_unit() and shutil.which("systemd-run"):
        return _in_unit(bundle, args)
    return _here(bundle, args)


def _in_unit(bundle: Path, args: argparse.Namespace) -> int:
    import subprocess

    from nps_sensor.appliance.render import VENV

    cmd = ["systemd-run", f"--unit={UNIT}", "--collect", "--quiet", "--setenv=NPS_UPDATE_UNIT=1"]
    if not args.detach:
        cmd += ["--wait", "--pipe"]
    cmd += [f"{VENV}/bin/nps-sensor", "appliance", "update", str(bundle)]
    cmd += ["--downgrade"] if args.downgrade else []
    cmd += [f"--command={args.hub_command}"] if args.hub_command else []
    done = subprocess.run(cmd, check=False)
    if args.detach and done.returncode == 0:
        print(f"update started (journalctl -u {UNIT} follows it)")
    return done.returncode


def _here(bundle: Path, args: argparse.Namespace) -> int:
    from nps_sensor import config
    from nps_sensor.appliance import update
    from nps_sensor.appliance.render import SENSOR_YAML
    from nps_sensor.appliance.update_bundle import BundleError
    from nps_sensor.appliance.update_health import Systemd

    try:
        address = config.load(SENSOR_YAML).sensing.status
    except SensorError:
        address = "127.0.0.1:8470"
    try:
        outcome = update.update(bundle, Systemd(address), downgrade=args.downgrade, command=args.hub_command)
    except BundleError as e:
        print(f"nps-sensor: {bundle.name} refused: {e}", file=sys.stderr)
        return EXIT_REFUSED
    if outcome.ok:
        print(outcome.message)
        return 0
    print(f"nps-sensor: {outcome.message}", file=sys.stderr)
    return EXIT_ROLLED_BACK
