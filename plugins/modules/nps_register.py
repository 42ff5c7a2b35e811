#!/usr/bin/python
"""Documentation of the nps_register action (plugins/action/nps_register.py does the work).

As for nps_appliance: the module file documents the action for ansible-doc and for the
tools that look actions up (ansible-lint).
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nps_register
short_description: Register a network passive sensor appliance with its management hub, once
description:
  - Runs C(nps-sensor register) on the appliance with the personalization code on its
    standard input (never in arguments or logs), then starts the uplink
    (C(nps-uplink.service)). An appliance that is registered already
    (C(/var/lib/nps-sensor/hub.json)) is left alone, since a code works once.
  - A refusal fails the task with the hub's one-line reason (wrong, used or expired code,
    another certificate, hub unreachable). Supports check mode.
options:
  hub:
    description: The hub's URL, C(https://HOST[:PORT]).
    type: str
    required: true
  code:
    description: The 14-digit personalization code the hub gave for this sensor (vault it).
    type: str
    required: true
  fingerprint:
    description: The SHA-256 of the hub's certificate (hex, colons allowed), pinned and checked before the code is sent.
    type: str
    default: ""
  command:
    description: The appliance's C(nps-sensor) command.
    type: str
    required: true
author:
  - nps-kit
"""

EXAMPLES = r"""
- name: Register with the management hub
  nps.appliance.nps_register:
    hub: https://hub.example.net:8480
    code: "{{ vault_registration_code }}"
    fingerprint: "{{ hub_fingerprint }}"
    command: /opt/nps-sensor/bin/nps-sensor
"""

RETURN = r"""
msg:
  description: What the appliance said (registered with..., or registered already).
  type: str
  returned: always
"""
