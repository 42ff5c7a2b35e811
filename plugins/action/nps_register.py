"""Ansible action: register an appliance with its management hub, once, through
`nps-sensor register` on the appliance (the console's and the boot's code).

The code goes on the command's standard input, never in its arguments (`ps` would show
it) nor in a log. A registered appliance (its /var/lib/nps-sensor/hub.json exists) is
left alone: a code works once. An action rather than a module, as nps_appliance: a
few commands on the appliance and no Python module shipped there.
"""

from __future__ import annotations

import shlex
from typing import Any

from ansible.plugins.action import ActionBase

STATE = "/var/lib/nps-sensor/hub.json"
SPEC: dict[str, dict[str, Any]] = {
    "hub": {"type": "str", "required": True},
    "code": {"type": "str", "required": True, "no_log": True},
    "fingerprint": {"type": "str", "default": ""},
    "command": {"type": "str", "required": True},  # appliance_command (the appliance role's)
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=SPEC)
        code = args["code"]

        def execute(cmd: list[str], stdin: bytes | None = None) -> tuple[int, str]:
            res = self._low_level_execute_command(shlex.join(cmd), in_data=stdin, sudoable=True)
            text = (res.get("stderr", "") or res.get("stdout", "")).strip()
            return int(res.get("rc", 1)), text.replace(code, "**************") if code else text

        registered, _ = execute(["test", "-e", STATE])
        if registered == 0:
            result.update(changed=False, msg=f"registered already ({STATE})")
            return result
        if self._task.check_mode:
            result.update(changed=True, msg=f"would register with {args['hub']}")
            return result
        cmd = [args["command"], "register", "--hub", args["hub"]]
        if args["fingerprint"]:
            cmd += ["--fingerprint", args["fingerprint"]]
        rc, said = execute(cmd, stdin=code.encode() + b"\n")
        if rc != 0:
            result.update(failed=True, rc=rc, msg=said or f"{shlex.join(cmd)} exited with {rc}")
            return result
        rc, started = execute(["systemctl", "start", "nps-uplink.service"])
        if rc != 0:
            result.update(failed=True, rc=rc, msg=f"registered, but the uplink did not start: {started}")
            return result
        result.update(changed=True, msg=said.splitlines()[0] if said else f"registered with {args['hub']}")
        return result
