#!/usr/bin/python
"""Documentation of the nps_appliance action (plugins/action/nps_appliance.py does the work).

Like Ansible's own actions (debug, set_fact), the action has a module file for its
documentation and for the tools that look actions up (ansible-doc, ansible-lint).
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nps_appliance
short_description: Change a network passive sensor appliance's settings
description:
  - Runs C(nps-sensor appliance apply) on the appliance with the given sections, the
    request on standard input; the appliance reads its current settings back from its
    files, checks the whole and writes the files from its own templates
    (its package data, as its first boot does). Nothing changes when a value is invalid.
  - Supports check mode and diff mode (secrets masked).
options:
  hostname:
    description: The appliance's host name.
    type: str
  management:
    description: The management interface (interface, mode, address, netmask, gateway, dns).
    type: dict
  proxy:
    description: The proxy (enabled, address, port, auth, user); the password goes in I(proxy_password).
    type: dict
  proxy_password:
    description: The proxy password; it travels on standard input and is never logged.
    type: str
  sniffing:
    description: Every sniffing interface (name, mode, address, netmask).
    type: list
    elements: dict
  names:
    description: Role variable names by setting (C(management.gateway) -> C(network_gateway)), for messages.
    type: dict
    default: {}
  validate_only:
    description: Check the settings against the appliance's current ones and change nothing.
    type: bool
    default: false
  command:
    description: The appliance's C(nps-sensor) command.
    type: str
    default: /opt/nps-sensor/bin/nps-sensor
author:
  - nps-kit
"""

EXAMPLES = r"""
- name: Put the management interface on a static address (check mode shows the diff)
  nps.appliance.nps_appliance:
    management:
      interface: eth0
      mode: static
      address: 192.0.2.10
      netmask: "24"
      gateway: 192.0.2.1
      dns: [192.0.2.53]
"""

RETURN = r"""
changes:
  description: The files that changed (or would), by path.
  type: list
  returned: success
reconfigure:
  description: Interfaces whose systemd-networkd files changed.
  type: list
  returned: success
restart_sensor:
  description: Whether the sensor's configuration changed.
  type: bool
  returned: success
"""
