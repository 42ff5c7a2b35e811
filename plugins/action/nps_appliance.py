"""Ansible action: change an appliance's settings through `nps-sensor appliance apply`.

The appliance renders its files itself, from the templates its image ships
(the sensor's package data, nps_sensor/appliance/templates), with the function its first boot uses: the roles hand it
settings and render no file of their own. This action only carries the request to it
(on standard input: secrets never go in process arguments), check mode, the diff, and
the names of the role variables a failure must name.

An action rather than a module: it runs one command on the appliance and needs no
Python module shipped there, which matters on a small appliance (and a lot under
software emulation, where each module costs tens of seconds).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from ansible.plugins.action import ActionBase

SPEC: dict[str, dict[str, Any]] = {
    "hostname": {"type": "str"},
    "management": {"type": "dict"},
    "proxy": {"type": "dict"},
    "proxy_password": {"type": "str", "no_log": True},
    "sniffing": {"type": "list", "elements": "dict"},
    "updates": {"type": "dict"},
    "names": {"type": "dict", "default": {}},
    "validate_only": {"type": "bool", "default": False},
    "command": {"type": "str", "default": "/opt/nps-sensor/bin/nps-sensor"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=SPEC)
        sections = ("hostname", "management", "proxy", "sniffing", "updates")
        request = {key: args[key] for key in sections if args[key] is not None}
        password = args["proxy_password"] or ""
        if "proxy" in request:
            request["proxy"] = {**request["proxy"], "password": password}
        check = bool(self._task.check_mode or args["validate_only"])
        cmd = [args["command"], "appliance", "apply", *(["--check"] if check else [])]
        res = self._low_level_execute_command(shlex.join(cmd), in_data=json.dumps(request).encode(), sudoable=True)
        out, err, rc = res.get("stdout", ""), res.get("stderr", ""), res.get("rc", 1)

        def fail(msg: str, **extra: Any) -> dict[str, Any]:
            result.update(failed=True, msg=msg.replace(password, "********") if password else msg, **extra)
            return result

        try:
            outcome = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        except ValueError:
            outcome = {}
        if "error" in outcome:
            field = str(outcome.get("field") or "")
            names = args["names"]
            name = names.get(field) or names.get(field.split(".", maxsplit=1)[0]) or field or "settings"
            return fail(f"{name}: {outcome['error']}", variable=name, field=field)
        if rc == 127 or "not found" in err:
            return fail(
                f"appliance_command: {args['command']} is not on this host; these roles configure appliances "
                "built by `inv image.build` (set appliance_command if the sensor lives elsewhere)"
            )
        if rc != 0 or "changed" not in outcome:
            return fail((err or out).strip() or f"{shlex.join(cmd)} exited with {rc}", rc=rc)
        changes = outcome["changes"]
        result.update(
            changed=bool(changes) and not args["validate_only"],
            changes=[c["path"] for c in changes],
            reconfigure=outcome["reconfigure"],
            restart_sensor=outcome["restart_sensor"],
            reload_systemd=outcome.get("reload_systemd", False),
        )
        if not args["validate_only"] and self._task.diff:
            result["diff"] = [
                {"before_header": c["path"], "after_header": c["path"], "before": c["before"], "after": c["after"]}
                for c in changes
            ]
        return result
