"""Hyper-V deploys: the PowerShell the kit sends, and the WinRM conversation that carries it.

No Hyper-V host runs here, so:
- the rendered scripts are compared with golden files (tests/hyperv_golden/, rewritten
  with NPS_UPDATE_GOLDEN=1), parsed with tree-sitter's PowerShell grammar, and checked to
  call only the cmdlets and parameters they are meant to, with names kept as literals;
- the WinRM side runs end to end against tests/wsman_fake.py, a WS-Management endpoint on
  127.0.0.1 (HTTPS, NTLM with channel binding, the WinRS shell protocol, SOAP faults)
  that checks every envelope and answers like a Hyper-V host in a given state.
"""

from __future__ import annotations

import base64
import io
import os
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp
from rich.console import Console

from nps_hypervisors import hyperv
from nps_hypervisors.hyperv_scripts import Literal, parse, ps_literal, render
from nps_hypervisors.hyperv_winrm import Endpoint, HyperVError, Session
from tests.support.wsman_fake import FakeHyperV, Tls, WSManServer, make_tls

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "hyperv_golden"
USER = "HV01\\deployer"
PASSWORD = "Corr3ct-h0rse;'$(x)"  # quotes and PowerShell syntax: it must never reach a script
GIB = 1024**3

# --- the scripts ---------------------------------------------------------------------------

BASE: dict[str, Any] = {
    "vm_name": "nps-sensor",
    "vm_path": "C:\\Hyper-V",
    "vhdx": "C:\\Hyper-V\\nps-sensor\\Virtual Hard Disks\\nps-sensor-0.1.0-disk1.vhdx",
    "disk_zip": "C:\\Hyper-V\\nps-sensor\\nps-sensor-0.1.0-vhdx.zip",
    "disk_sha256": "9F86D081884C7D659A2FEAEA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A0",
    "memory_bytes": 16 * GIB,
    "cpus": 8,
    "management_switch": "LAN",
    "management_nic": "Management",
    "sniffing_adapter": "Ethernet 2",
    "sniffing_switch": "nps-sniffing",
    "sniffing_nic": "Sniffing",
    "serial_pipe": "\\\\.\\pipe\\nps-sensor-com1",
}
QUOTED = {
    **BASE,
    "vm_name": "Sensor 'Bldg 4' ’B’",
    "management_switch": 'Corp "Mgmt" LAN',
    "sniffing_adapter": "SPAN port; Remove-Item C:\\ -Recurse",
    "sniffing_switch": "Mirror $(Stop-Computer)",
}
CASES: dict[str, tuple[str, bool, dict[str, Any]]] = {
    "deploy": ("deploy", True, BASE),
    "deploy-dry-run": ("deploy", False, BASE),
    "deploy-vhdx-on-host": ("deploy", True, {**BASE, "vhdx": "D:\\Images\\sensor.vhdx", "disk_zip": None}),
    "deploy-zip-no-hash": ("deploy", True, {**BASE, "disk_sha256": None, "memory_bytes": 8 * GIB, "cpus": 4}),
    "deploy-quoted-names": ("deploy", True, QUOTED),
    "resize": ("resize", True, {"vm_name": "nps-sensor", "memory_bytes": 24 * GIB, "cpus": 16}),
    "nic-add": (
        "nic",
        True,
        {
            "vm_name": "nps-sensor",
            "remove": False,
            "sniffing_adapter": "Ethernet 3",
            "sniffing_switch": "nps-sniffing (Ethernet 3)",
            "sniffing_nic": "Sniffing (Ethernet 3)",
        },
    ),
    "nic-remove": (
        "nic",
        True,
        {
            "vm_name": "nps-sensor",
            "remove": True,
            "sniffing_adapter": "",
            "sniffing_switch": "",
            "sniffing_nic": "Sniffing (Ethernet 3)",
        },
    ),
    "status": ("status", False, {"vm_name": "nps-sensor"}),
    "probe": (
        "probe",
        False,
        {k: BASE[k] for k in ("vm_name", "vhdx", "disk_zip", "management_switch", "sniffing_adapter")},
    ),
    "upload": ("upload", True, {"path": BASE["disk_zip"], "sha256": BASE["disk_sha256"]}),
    "bootstrap": ("bootstrap", True, {}),
}

# Every command a script may call, with the parameters it may pass: a typo in a cmdlet or
# a parameter fails here instead of on a customer's host.
_OWN = ("Write-Step", "Stop-Step", "Invoke-Step", "Invoke-Check", "Find-VM", "Find-Switch", "Find-Nic", "Assert-Off")
COMMANDS: dict[str, set[str]] = {
    **{name: set() for name in _OWN},
    "Set-StrictMode": {"Version"},
    "ConvertTo-Json": {"Compress", "Depth"},
    "Out-String": set(),
    "Where-Object": set(),
    "Select-Object": {"First"},
    "Get-Command": {"Name", "Module", "ErrorAction"},
    "Get-NetAdapter": {"Physical"},
    "Test-Path": {"LiteralPath", "PathType"},
    "Get-FileHash": {"LiteralPath", "Algorithm"},
    "Expand-Archive": {"LiteralPath", "DestinationPath", "Force"},
    "Split-Path": {"Parent", "Leaf"},
    "New-Item": {"ItemType", "Force", "Path"},
    "Remove-Item": {"LiteralPath", "Force"},
    "Move-Item": {"LiteralPath", "Destination", "Force"},
    "Get-VM": set(),
    "New-VM": {"Name", "Generation", "MemoryStartupBytes", "VHDPath", "Path", "SwitchName"},
    "Set-VM": {"VM", "AutomaticStopAction"},
    "Start-VM": {"VM"},
    "Stop-VM": {"VM", "Force"},
    "Set-VMMemory": {"VM", "DynamicMemoryEnabled", "StartupBytes"},
    "Get-VMProcessor": {"VM"},
    "Set-VMProcessor": {"VM", "Count"},
    "Get-VMComPort": {"VM", "Number"},
    "Set-VMComPort": {"VM", "Number", "Path"},
    "Get-VMSwitch": set(),
    "New-VMSwitch": {"Name", "NetAdapterName", "AllowManagementOS"},
    "Set-VMSwitch": {"VMSwitch", "AllowManagementOS"},
    "Get-VMSystemSwitchExtensionPortFeature": {"FeatureName"},
    "Get-VMSwitchExtensionPortFeature": {"ExternalPort", "SwitchName", "FeatureName"},
    "Add-VMSwitchExtensionPortFeature": {"ExternalPort", "SwitchName", "VMSwitchExtensionFeature"},
    "Set-VMSwitchExtensionPortFeature": {"ExternalPort", "SwitchName", "VMSwitchExtensionFeature"},
    "Get-VMNetworkAdapter": {"VM"},
    "Add-VMNetworkAdapter": {"VM", "Name", "SwitchName"},
    "Rename-VMNetworkAdapter": {"NewName"},
    "Connect-VMNetworkAdapter": {"VMNetworkAdapter", "SwitchName"},
    "Set-VMNetworkAdapter": {"VMNetworkAdapter", "PortMirroring"},
    "Remove-VMNetworkAdapter": {"VMNetworkAdapter"},
    "Get-VMNetworkAdapterVlan": {"VMNetworkAdapter"},
    "Set-VMNetworkAdapterVlan": {"VMNetworkAdapter", "Trunk", "AllowedVlanIdList", "NativeVlanId"},
}
PARSER = ts.Parser(ts.Language(tsp.language()))


def _render(case: str) -> str:
    action, apply, values = CASES[case]
    script: str = render(action, apply=apply, **values)
    return script


def _nodes(node: ts.Node, kind: str) -> Iterator[ts.Node]:
    if node.type == kind:
        yield node
    for child in node.children:
        yield from _nodes(child, kind)


def _text(node: ts.Node | None) -> str:
    return bytes(node.text or b"").decode() if node is not None else ""


@pytest.mark.parametrize("case", sorted(CASES))
def test_script_matches_golden(case: str) -> None:
    script = _render(case)
    golden = GOLDEN / f"{case}.ps1"
    if os.environ.get("NPS_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(script, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden.name}: run with NPS_UPDATE_GOLDEN=1 and review it"
    assert script == golden.read_text(encoding="utf-8"), f"{case}: the script changed; review, then NPS_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_script_parses_and_calls_only_known_cmdlets(case: str) -> None:
    script = _render(case)
    source = script
    if source.startswith("begin {"):
        # The upload script is a script with named blocks; the grammar knows those inside a
        # script block, which is what powershell.exe makes of an encoded command.
        source = "$upload = {\n" + script + "}\n"
    tree = PARSER.parse(source.encode())
    if case == "upload":
        assert [_text(n) for n in _nodes(tree.root_node, "block_name")] == ["begin", "process", "end"]
    errors = list(_nodes(tree.root_node, "ERROR"))
    assert not tree.root_node.has_error, f"{case}: PowerShell syntax error near {[_text(n)[:60] for n in errors]}"
    for command in _nodes(tree.root_node, "command"):
        if _first(command, "command_invokation_operator"):
            continue  # & $scriptblock
        name = _text(command.child_by_field_name("command_name") or _first(command, "command_name"))
        assert name in COMMANDS, f"{case}: unexpected command {name}"
        for parameter in _nodes(command, "command_parameter"):
            owner = parameter.parent.parent if parameter.parent else None
            if owner is not None and owner.id != command.id:
                continue  # a parameter of a nested command
            assert _text(parameter).lstrip("-") in COMMANDS[name], f"{case}: {name} {_text(parameter)}"
    assert PASSWORD not in script and "Password" not in script


def _first(node: ts.Node, kind: str) -> ts.Node | None:
    return next((c for c in node.children if c.type == kind), None)


# Every property or method a script touches, by the object that has it: under
# Set-StrictMode a misspelt property throws on the host, this catches it here.
MEMBERS = {
    # Microsoft.HyperV.PowerShell.VirtualMachine (Get-VM), VMProcessor, TimeSpan
    *("Name", "State", "Generation", "MemoryStartup", "DynamicMemoryEnabled", "AutomaticStopAction", "Uptime"),
    *("Count", "TotalSeconds"),
    # VMSwitch (Get-VMSwitch), MSFT_NetAdapter (Get-NetAdapter)
    *("SwitchType", "NetAdapterInterfaceDescription", "AllowManagementOS", "InterfaceDescription"),
    # VMNetworkAdapter, VMNetworkAdapterVlanSetting
    *("SwitchName", "MacAddress", "IPAddresses", "PortMirroringMode", "OperationMode", "NativeVlanId"),
    "AllowedVlanIdListString",
    # VMSwitchExtensionPortFeature and its Msvm_EthernetSwitchPortSecuritySettingData
    *("SettingData", "MonitorMode"),
    # VMComPort (Get-VMComPort): the named pipe it is wired to
    "Path",
    # .NET and PowerShell
    *("Out", "Error", "WriteLine", "Exception", "Message", "Trim", "Replace", "Length", "Close", "Write", "new"),
    *("Hash", "Create", "TransformBlock", "TransformFinalBlock", "FromBase64String", "ToString"),
}
AUTOMATIC = {"_", "true", "false", "null", "input", "erroractionpreference", "progresspreference"}


def _assigned(variable: ts.Node) -> bool:
    """Whether this occurrence sets the variable: left of =, a parameter, a foreach variable."""
    parent = variable.parent
    if parent is not None and parent.type in ("script_parameter", "foreach_statement"):
        return True
    node = parent
    while node is not None and node.type not in ("assignment_expression", "statement_list", "program"):
        if node.type == "left_assignment_expression":
            return True
        node = node.parent
    return False


@pytest.mark.parametrize("case", sorted(CASES))
def test_script_reads_only_variables_it_sets(case: str) -> None:
    """A misspelt variable is $null in PowerShell, silently: every one read must be set."""
    script = _render(case)
    source = "$upload = {\n" + script + "}\n" if script.startswith("begin {") else script
    variables = list(_nodes(PARSER.parse(source.encode()).root_node, "variable"))
    names = [_text(v)[1:].lower() for v in variables]
    assigned = {name for name, v in zip(names, variables, strict=True) if _assigned(v)} | AUTOMATIC
    unset = sorted({name for name in names if name not in assigned})
    assert not unset, f"{case}: reads variables it never sets: {unset}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_script_touches_only_known_members(case: str) -> None:
    script = _render(case)
    source = "$upload = {\n" + script + "}\n" if script.startswith("begin {") else script
    members = {_text(m) for m in _nodes(PARSER.parse(source.encode()).root_node, "member_name")}
    assert members <= MEMBERS, f"{case}: unknown members {sorted(members - MEMBERS)}"


def test_deploy_script_has_the_plan_in_order() -> None:
    script = _render("deploy")
    steps = [line.split("'")[1] for line in script.splitlines() if line.startswith(("Invoke-Step '", "Invoke-Check '"))]
    assert steps == [
        "hyper-v",
        "management-switch",
        "sniffing-adapter",
        "disk",
        "vm",
        "memory",
        "processors",
        "stop-action",
        "serial-console",
        "management-nic",
        "sniffing-switch",
        "monitor-mode",
        "sniffing-nic",
        "port-mirroring",
        "vlan-trunk",
        "power",
    ]
    for line in (
        "New-VM -Name $VmName -Generation 1 -MemoryStartupBytes $MemoryBytes -VHDPath $Vhdx -Path $VmPath "
        "-SwitchName $ManagementSwitch",
        "Set-VMMemory -VM (Find-VM) -DynamicMemoryEnabled $false -StartupBytes $MemoryBytes",
        "Set-VMProcessor -VM (Find-VM) -Count $Cpus",
        "Set-VM -VM (Find-VM) -AutomaticStopAction TurnOff",
        "Set-VMComPort -VM (Find-VM) -Number 1 -Path $SerialPipe",
        "New-VMSwitch -Name $SniffingSwitch -NetAdapterName $SniffingAdapter -AllowManagementOS $false",
        "$feature = Get-VMSystemSwitchExtensionPortFeature -FeatureName $PortSecurity",
        "$feature.SettingData.MonitorMode = 2",
        "Add-VMSwitchExtensionPortFeature -ExternalPort -SwitchName $SniffingSwitch -VMSwitchExtensionFeature $feature",
        "Set-VMNetworkAdapter -VMNetworkAdapter (Find-Nic $SniffingNic) -PortMirroring Destination",
        "Set-VMNetworkAdapterVlan -VMNetworkAdapter (Find-Nic $SniffingNic) -Trunk -AllowedVlanIdList '1-4094' "
        "-NativeVlanId 0",
        "Start-VM -VM (Find-VM)",
        "$PortSecurity = 'Ethernet Switch Port Security Settings'",
        "$MemoryBytes = 17179869184",
        "$Cpus = 8",
    ):
        assert line in script, line


def test_names_stay_literals() -> None:
    """A name with quotes, $() or a statement separator is one string literal, nothing more."""
    script = _render("deploy-quoted-names")
    tree = PARSER.parse(script.encode())
    assert not tree.root_node.has_error
    names = {
        _text(c.child_by_field_name("command_name") or _first(c, "command_name"))
        for c in _nodes(tree.root_node, "command")
    }
    assert "Remove-Item" not in names and "Stop-Computer" not in names
    assert "$VmName = 'Sensor ''Bldg 4'' ’’B’’'" in script  # typographic quotes are quotes to PowerShell
    assert "$SniffingAdapter = 'SPAN port; Remove-Item C:\\ -Recurse'" in script
    assert "$SniffingSwitch = 'Mirror $(Stop-Computer)'" in script
    assert "$ManagementSwitch = 'Corp \"Mgmt\" LAN'" in script


def test_literals() -> None:
    assert ps_literal("it's") == "'it''s'"
    assert ps_literal("a‘b‚c‛") == "'a‘‘b‚‚c‛‛'"
    assert ps_literal(None) == "$null"
    assert ps_literal(True) == "$true" and ps_literal(False) == "$false"
    assert ps_literal(17) == "17"
    with pytest.raises(ValueError, match="control characters"):
        ps_literal("two\nlines")
    with pytest.raises(TypeError):
        ps_literal(1.5)


def test_template_refuses_unquoted_values() -> None:
    from nps_hypervisors import hyperv_scripts

    with pytest.raises(TypeError, match="without the ps filter"):
        hyperv_scripts._finalize("Ethernet 2")
    assert hyperv_scripts._finalize(Literal("'x'")) == "'x'"


# --- results -------------------------------------------------------------------------------


def test_parse_steps_and_records() -> None:
    out = parse(
        b'{"step":"vm","status":"changed","detail":"nps-sensor"}\r\n'
        b"WARNING: something the host said\r\n"
        b'{"disk":{"vhdx":false,"zip_sha256":null}}\r\n'
        b'{"step":"power","status":"ok","detail":""}\r\n',
        b"",
        0,
    )
    assert [(s.step, s.status) for s in out.steps] == [("vm", "changed"), ("power", "ok")]
    assert out.record("disk") == {"vhdx": False, "zip_sha256": None}
    assert out.text == ["WARNING: something the host said"]
    assert out.ok and out.error_line() == ""


def test_parse_failing_step_of_a_partial_run() -> None:
    out = parse(
        b'{"step":"hyper-v","status":"ok","detail":""}\r\n'
        b'{"step":"sniffing-switch","status":"failed","detail":"The network adapter is already bound"}\r\n',
        b"step sniffing-switch failed\r\n",
        1,
    )
    assert [s.status for s in out.steps] == ["ok", "failed"]
    assert not out.ok
    assert out.error_line() == "step sniffing-switch failed: The network adapter is already bound"


def test_parse_non_utf8_and_clixml() -> None:
    # A host whose console code page is not UTF-8 (850 here): the line stays readable.
    line = '{"step":"sniffing-adapter","status":"failed","detail":"no adapter named Réseau 2"}\r\n'
    out = parse(line.encode("cp850"), b"", 1)
    assert out.failed is not None and out.failed.detail.startswith("no adapter named R")
    assert "\ufffd" in out.failed.detail
    clixml = (
        b"#< CLIXML\r\n"
        b'<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        b"<S S=\"Error\">The term 'New-VM' is not recognized_x000D__x000A_</S>"
        b'<S S="Error">At line:1 char:1_x000D__x000A_</S></Objs>'
    )
    out = parse(b"", clixml, 1)
    assert out.error_line() == "the script stopped with exit code 1: The term 'New-VM' is not recognized"
    assert parse(b"garbage\r\n", b"", 3).error_line() == "the script stopped with exit code 3: garbage"


# --- over WinRM, against the fake host ------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module", autouse=True)
def ntlm_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The acceptor's credential store (pyspnego reads NTLM_USER_FILE), owner-only."""
    path = tmp_path_factory.mktemp("ntlm") / "users"
    path.write_text(f"HV01:deployer:{PASSWORD}\n")
    path.chmod(0o600)
    before = os.environ.get("NTLM_USER_FILE")
    os.environ["NTLM_USER_FILE"] = str(path)
    yield
    if before is None:
        os.environ.pop("NTLM_USER_FILE", None)
    else:
        os.environ["NTLM_USER_FILE"] = before


Start = Callable[..., WSManServer]


@pytest.fixture
def start(tls: Tls) -> Iterator[Start]:
    servers: list[WSManServer] = []

    def _start(host: FakeHyperV | None = None, auth: str = "ntlm", https: bool = True) -> WSManServer:
        server = WSManServer(tls if https else None, {USER: PASSWORD}, auth, host or FakeHyperV())
        server.start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()
        assert not server.violations, server.violations


def _endpoint(server: WSManServer, tls: Tls, **kw: Any) -> Endpoint:
    return Endpoint(**{"host": "127.0.0.1", "user": USER, "port": server.port, "ca_bundle": str(tls.ca), **kw})


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, soft_wrap=True, color_system=None), buffer


DEPLOYMENT = hyperv.Deployment(
    management_switch="LAN", sniffing_adapter="Ethernet 2", disk_on_host="D:\\Images\\nps-sensor-0.1.0-vhdx.zip"
)
DEPLOYED = {
    "vm_name": "nps-sensor",
    "vhdx": "C:\\Hyper-V\\nps-sensor\\Virtual Hard Disks\\nps-sensor-0.1.0-disk1.vhdx",
    "management_switch": "LAN",
    "sniffing_adapter": "Ethernet 2",
    "sniffing_switch": "nps-sniffing",
    "memory_bytes": 16 * GIB,
    "cpus": 8,
    "serial_pipe": "\\\\.\\pipe\\nps-sensor-com1",
}


def _fresh() -> FakeHyperV:
    host = FakeHyperV()
    host.files["D:\\Images\\nps-sensor-0.1.0-vhdx.zip"] = b"the image"
    return host


def _deploy(server: WSManServer, tls: Tls, d: hyperv.Deployment, dry_run: bool) -> tuple[list[Any], str]:
    console, buffer = _console()
    with Session(_endpoint(server, tls), PASSWORD) as session:
        steps = hyperv.deploy(session, d, dry_run=dry_run, console=console)
    return steps, buffer.getvalue()


def test_dry_run_on_a_fresh_host(start: Start, tls: Tls) -> None:
    server = start(_fresh())
    steps, printed = _deploy(server, tls, DEPLOYMENT, dry_run=True)
    statuses = {s.step: s.status for s in steps}
    checks = {"hyper-v", "management-switch", "sniffing-adapter"}
    assert {k for k, v in statuses.items() if v == "ok"} == checks
    assert {k for k, v in statuses.items() if v == "change"} == set(statuses) - checks
    assert not server.hyperv.vms and "nps-sniffing" not in server.hyperv.switches  # nothing changed
    # the script it ran is the golden dry run, for this deployment's values
    values = {**BASE, "disk_zip": DEPLOYMENT.disk_on_host, "disk_sha256": None}
    assert server.scripts == [render("deploy", apply=False, **values)]
    # and it printed the script a real run sends, then the plan
    assert render("deploy", apply=True, **values) in printed
    assert "13 to change, 3 ok (dry run: nothing was changed)" in printed
    # the WinRS conversation: one shell, one command, the script on stdin, output, terminate, close
    actions = server.actions
    assert actions[:3] == ["create", "command", "send"] and actions[-2:] == ["signal", "delete"]
    assert set(actions[3:-2]) == {"receive"}
    assert server.encoded == [render("bootstrap")]


def test_deploy_then_every_step_ok(start: Start, tls: Tls) -> None:
    server = start(_fresh())
    steps, _ = _deploy(server, tls, DEPLOYMENT, dry_run=False)
    assert {s.status for s in steps} == {"ok", "changed"}
    vm = server.hyperv.vms["nps-sensor"]
    assert (vm.generation, vm.memory, vm.cpus, vm.stop_action, vm.state) == (1, 16 * GIB, 8, "TurnOff", "Running")
    assert vm.com1 == "\\\\.\\pipe\\nps-sensor-com1"  # the appliance console's serial line
    assert vm.nics["Sniffing"].mirroring == "Destination" and vm.nics["Sniffing"].allowed == "1-4094"
    switch = server.hyperv.switches["nps-sniffing"]
    assert (switch.adapter, switch.allow_management_os, switch.monitor_mode) == ("Ethernet 2", False, 2)
    again, printed = _deploy(server, tls, DEPLOYMENT, dry_run=False)
    assert [s.status for s in again] == ["ok"] * 16
    assert "0 changed, 16 ok" in printed


def test_dry_run_where_everything_exists(start: Start, tls: Tls) -> None:
    server = start(FakeHyperV.complete(DEPLOYED))
    steps, printed = _deploy(server, tls, DEPLOYMENT, dry_run=True)
    assert len(steps) == 16 and all(s.status == "ok" for s in steps)
    assert "0 to change, 16 ok" in printed


def _zip(tmp_path: Path, size: int) -> Path:
    archive = tmp_path / "nps-sensor-0.1.0-vhdx.zip"
    rng = random.Random(7)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("nps-sensor-0.1.0-disk1.vhdx", rng.randbytes(size))
    return archive


def test_upload_in_chunks_with_the_hash_checked_on_the_host(start: Start, tls: Tls, tmp_path: Path) -> None:
    archive = _zip(tmp_path, 300_000)  # five 64 KiB chunks
    server = start()
    d = hyperv.Deployment(management_switch="LAN", sniffing_adapter="Ethernet 2", disk=archive)
    steps, _ = _deploy(server, tls, d, dry_run=True)
    assert steps[0].step == "upload" and steps[0].status == "change"
    assert not server.hyperv.files
    steps, _ = _deploy(server, tls, d, dry_run=False)
    remote = "C:\\Hyper-V\\nps-sensor\\nps-sensor-0.1.0-vhdx.zip"
    assert server.hyperv.files[remote] == archive.read_bytes()
    assert steps[0].step == "upload" and steps[0].status == "changed"
    assert [s.status for s in steps if s.step == "disk"] == ["changed"]
    assert server.actions.count("send") >= 5 + 2  # the chunks, and the two scripts
    # the next run finds the VHDX there and sends nothing
    steps, _ = _deploy(server, tls, d, dry_run=False)
    assert steps[0].status == "ok" and all(s.status == "ok" for s in steps)


def test_upload_chunks_fit_the_smallest_envelope(
    start: Start, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake host refuses envelopes over 150 KiB, as hosts still on that default do."""
    from nps_hypervisors import hyperv_winrm

    monkeypatch.setattr(hyperv_winrm, "CHUNK", 128 * 1024)
    server = start()
    d = hyperv.Deployment(management_switch="LAN", sniffing_adapter="Ethernet 2", disk=_zip(tmp_path, 200_000))
    with pytest.raises(HyperVError, match="WinRM refused the request: an envelope of"):
        _deploy(server, tls, d, dry_run=False)
    server.violations.clear()


def test_upload_damaged_on_the_way(start: Start, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip(tmp_path, 1000)
    server = start()
    original = server.hyperv.receive_upload

    def damaged(path: str, expected: str, data: bytes) -> tuple[bytes, bytes, int]:
        first, rest = data.split(b"\r\n", 1)
        zeros = base64.b64encode(bytes(len(base64.b64decode(first))))  # a chunk of zeros in its place
        result: tuple[bytes, bytes, int] = original(path, expected, zeros + b"\r\n" + rest)
        return result

    monkeypatch.setattr(server.hyperv, "receive_upload", damaged)
    d = hyperv.Deployment(management_switch="LAN", sniffing_adapter="Ethernet 2", disk=archive)
    with pytest.raises(HyperVError, match=r"^127.0.0.1: step upload failed: .*received SHA256 [0-9A-F]{64}, sent"):
        _deploy(server, tls, d, dry_run=False)
    assert not server.hyperv.files


def test_missing_adapter_is_one_line(start: Start, tls: Tls) -> None:
    server = start(_fresh())
    d = hyperv.Deployment(management_switch="LAN", sniffing_adapter="Ethernet 9", disk_on_host=DEPLOYMENT.disk_on_host)
    with pytest.raises(HyperVError) as caught:
        _deploy(server, tls, d, dry_run=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "127.0.0.1: step sniffing-adapter failed: no physical network adapter named Ethernet 9 "
        "on this host (Get-NetAdapter -Physical lists them)"
    )
    assert not server.hyperv.vms and list(server.hyperv.files) == [DEPLOYMENT.disk_on_host]  # checked first


def test_nothing_is_uploaded_to_a_host_that_will_refuse(start: Start, tls: Tls, tmp_path: Path) -> None:
    server = start()
    d = hyperv.Deployment(management_switch="Nope", sniffing_adapter="Ethernet 2", disk=_zip(tmp_path, 1000))
    with pytest.raises(
        HyperVError, match=r"^127\.0\.0\.1: step management-switch failed: no virtual switch named Nope"
    ):
        _deploy(server, tls, d, dry_run=False)
    assert not server.hyperv.files and server.actions.count("send") == 1  # the probe, no upload


def test_failing_hyperv_step_keeps_the_steps_before(start: Start, tls: Tls) -> None:
    host = _fresh()
    host.fail["monitor-mode"] = "The operation failed because the object was not found.\r\n  (0x80041002)"
    server = start(host)
    console, buffer = _console()
    with Session(_endpoint(server, tls), PASSWORD) as session, pytest.raises(HyperVError) as caught:
        hyperv.deploy(session, DEPLOYMENT, dry_run=False, console=console)
    assert str(caught.value) == (
        "127.0.0.1: step monitor-mode failed: The operation failed because the object was not found. (0x80041002)"
    )
    printed = buffer.getvalue()
    assert "changed  sniffing-switch" in printed and "failed   monitor-mode" in printed
    assert "sniffing-nic" not in printed
    assert "nps-sniffing" in host.switches and host.switches["nps-sniffing"].monitor_mode is None


def test_running_vm_of_another_size_is_not_resized_behind_its_back(start: Start, tls: Tls) -> None:
    server = start(FakeHyperV.complete({**DEPLOYED, "memory_bytes": 8 * GIB, "cpus": 4}))
    with pytest.raises(HyperVError) as caught:
        _deploy(server, tls, DEPLOYMENT, dry_run=False)
    assert str(caught.value) == (
        "127.0.0.1: step memory failed: VM nps-sensor is Running: its memory and processors change "
        "only while it is off; stop it and run again (inv deploy.hyperv-resize stops and starts it for its size)"
    )
    assert server.hyperv.vms["nps-sensor"].memory == 8 * GIB


def test_non_utf8_host_output_is_still_one_line(start: Start, tls: Tls) -> None:
    host = _fresh()
    host.output_encoding = "cp850"  # a host whose console code page ignored the shell's 65001
    server = start(host)
    d = hyperv.Deployment(management_switch="LAN", sniffing_adapter="Réseau 2", disk_on_host=DEPLOYMENT.disk_on_host)
    with pytest.raises(HyperVError) as caught:
        _deploy(server, tls, d, dry_run=True)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("127.0.0.1: step sniffing-adapter failed: no physical network adapter")
    assert "R\ufffdseau 2" in message


def test_powershell_error_outside_a_step(start: Start, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start(_fresh())
    clixml = (
        b"#< CLIXML\r\n"
        b'<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        b'<S S="Error">Set-StrictMode : Cannot validate argument_x000D__x000A_</S></Objs>'
    )
    monkeypatch.setattr(server.hyperv, "run_script", lambda script: (b"", clixml, 1))
    with pytest.raises(HyperVError) as caught:
        _deploy(server, tls, DEPLOYMENT, dry_run=True)
    assert str(caught.value) == (
        "127.0.0.1: the script stopped with exit code 1: Set-StrictMode : Cannot validate argument"
    )


def test_wrong_password(start: Start, tls: Tls) -> None:
    server = start(_fresh())
    with pytest.raises(HyperVError) as caught, Session(_endpoint(server, tls), "not-it"):
        pass
    assert str(caught.value) == (
        f"{server.url()}: the host rejected the credentials of {USER} (HTTP 401): check the user (DOMAIN\\NAME), "
        "NPS_WINRM_PASSWORD and that the account may use WinRM (local Administrators)"
    )
    assert server.auth_failures == 1


def test_untrusted_certificate(start: Start, tls: Tls) -> None:
    server = start(_fresh())
    with pytest.raises(HyperVError, match=r"certificate is not trusted .*: pass its CA with --ca-bundle FILE.pem$"):
        Session(_endpoint(server, tls, ca_bundle=""), PASSWORD).__enter__()


def test_unreachable_host(tls: Tls) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = Endpoint("127.0.0.1", USER, port=port, ca_bundle=str(tls.ca))
    with pytest.raises(HyperVError, match=r"cannot connect \(Connection refused\): check the host name"):
        Session(ep, PASSWORD).__enter__()


def test_basic_over_https_and_refused_over_http(start: Start, tls: Tls) -> None:
    server = start(_fresh(), auth="basic")
    _deploy_ep = _endpoint(server, tls, auth="basic")
    with Session(_deploy_ep, PASSWORD) as session:
        out = session.run(
            render(
                "probe",
                apply=False,
                vm_name="v",
                vhdx="C:\\x.vhdx",
                disk_zip="C:\\x.zip",
                management_switch="LAN",
                sniffing_adapter="Ethernet 2",
            )
        )
    assert out.record("disk") == {"vhdx": False, "zip_sha256": None}
    with pytest.raises(HyperVError, match="would send the password in clear"):
        Endpoint("h", USER, auth="basic", http=True).check()


def test_http_seals_every_message_with_ntlm(start: Start, tls: Tls) -> None:
    """--http: no TLS, so each message is sealed with the NTLM session (MS-WSMV 2.2.9.1)."""
    server = start(FakeHyperV.complete(DEPLOYED), https=False)
    console, _ = _console()
    with Session(_endpoint(server, tls, http=True, ca_bundle=""), PASSWORD) as session:
        steps = hyperv.deploy(session, DEPLOYMENT, dry_run=True, console=console)
    assert len(steps) == 16 and all(s.status == "ok" for s in steps)
    assert server.encrypted == len(server.actions) > 5


def test_missing_auth_extras_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from winrm import transport

    monkeypatch.setattr(transport, "HAVE_KERBEROS", False)
    monkeypatch.setattr(transport, "HAVE_CREDSSP", False)
    with pytest.raises(HyperVError, match=r"pip install 'nps-kit\[kerberos\]'"):
        Endpoint("h", USER, auth="kerberos").check()
    with pytest.raises(HyperVError, match=r"pip install 'nps-kit\[credssp\]'"):
        Endpoint("h", USER, auth="credssp").check()


def test_receive_timeouts_are_retried(start: Start, tls: Tls) -> None:
    server = start(FakeHyperV.complete(DEPLOYED))
    server.timeouts_to_send = 2  # the host's answer to a Receive with nothing to say yet
    steps, _ = _deploy(server, tls, DEPLOYMENT, dry_run=True)
    assert len(steps) == 16


def test_resize_stops_changes_and_starts(start: Start, tls: Tls) -> None:
    server = start(FakeHyperV.complete(DEPLOYED))
    console, buffer = _console()
    with Session(_endpoint(server, tls), PASSWORD) as session:
        dry = hyperv.resize(session, "nps-sensor", 2000, dry_run=True, console=console)
        script = render("resize", apply=True, vm_name="nps-sensor", memory_bytes=24 * GIB, cpus=16)
        assert script in buffer.getvalue()  # the script a real run sends, printed by the dry run
        assert server.scripts == [render("resize", apply=False, vm_name="nps-sensor", memory_bytes=24 * GIB, cpus=16)]
        assert [(s.step, s.status) for s in dry] == [
            ("hyper-v", "ok"),
            ("vm", "ok"),
            ("power-off", "change"),
            ("memory", "change"),
            ("processors", "change"),
            ("power-on", "ok"),
        ]
        steps = hyperv.resize(session, "nps-sensor", 2000, dry_run=False, console=console)
        assert [s.status for s in steps[2:]] == ["changed"] * 4
        again = hyperv.resize(session, "nps-sensor", 2000, dry_run=False, console=console)
        assert all(s.status == "ok" for s in again)
        vm = hyperv.status(session, "nps-sensor")
    assert (vm["cpus"], vm["memory_bytes"], vm["state"]) == (16, 24 * GIB, "Running")


def test_nic_add_and_remove(start: Start, tls: Tls) -> None:
    host = FakeHyperV.complete(DEPLOYED)
    host.adapters["Ethernet 3"] = "Intel(R) I350 #3"
    server = start(host)
    console, buffer = _console()
    with Session(_endpoint(server, tls), PASSWORD) as session:
        steps = hyperv.nic(session, "nps-sensor", add="Ethernet 3", dry_run=False, console=console)
        assert {s.step: s.status for s in steps}["sniffing-nic"] == "changed"
        nic = host.vms["nps-sensor"].nics["Sniffing (Ethernet 3)"]
        assert (nic.switch, nic.mirroring, nic.vlan) == ("nps-sniffing (Ethernet 3)", "Destination", "Trunk")
        assert host.switches["nps-sniffing (Ethernet 3)"].monitor_mode == 2
        assert host.vms["nps-sensor"].state == "Running"
        steps = hyperv.nic(session, "nps-sensor", remove="Sniffing (Ethernet 3)", dry_run=False, console=console)
        assert [s.status for s in steps] == ["ok", "ok", "changed", "changed", "changed"]
        assert "Sniffing (Ethernet 3)" not in host.vms["nps-sensor"].nics
        vm = hyperv.status(session, "nps-sensor")
        hyperv.print_status(vm, console)
    table = buffer.getvalue()
    assert "nps-sensor: Running, Generation 1, 8 vCPU, 16384 MiB, stop action TurnOff" in table
    row = next(line for line in table.splitlines() if "Sniffing " in line and "Ethernet 3" not in line)
    assert [c.strip() for c in row.split("│")[1:-1]] == [
        "Sniffing",
        "nps-sniffing",
        "00155D000001",
        "Destination",
        "Trunk 1-4094",
        "2 (source)",
        "",
    ]
    with pytest.raises(HyperVError, match="one of --add"):
        hyperv.nic(session, "nps-sensor", dry_run=True, console=console)


def test_status_of_a_missing_vm(start: Start, tls: Tls) -> None:
    server = start(_fresh())
    with Session(_endpoint(server, tls), PASSWORD) as session, pytest.raises(HyperVError) as caught:
        hyperv.status(session, "nope")
    assert str(caught.value) == "127.0.0.1: step vm failed: no VM named nope on this host"


def test_deployment_checks_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(HyperVError, match="must differ"):
        hyperv.Deployment("S", "E", disk_on_host="x.vhdx", sniffing_switch="S").check()
    with pytest.raises(HyperVError, match="give the disk once"):
        hyperv.Deployment("S", "E").check()
    with pytest.raises(HyperVError, match="the chart ends at 2000"):
        hyperv.Deployment("S", "E", disk_on_host="x.vhdx", mbps=5000).check()
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(HyperVError, match="not a readable zip"):
        hyperv.plan_disk(hyperv.Deployment("S", "E", disk=bad))


def test_cli_glue(start: Start, tls: Tls, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import json

    from nps_hypervisors import hyperv_cli

    server = start(FakeHyperV.complete(DEPLOYED))
    monkeypatch.setenv("NPS_WINRM_PASSWORD", PASSWORD)
    ep = hyperv_cli.endpoint("127.0.0.1", USER, "NTLM", False, server.port, str(tls.ca))
    console, buffer = _console()
    hyperv_cli.status(ep, "nps-sensor", True, console)
    assert json.loads(buffer.getvalue())["nics"][1]["monitor_mode"] == 2
    hyperv_cli.resize(ep, "nps-sensor", 500, False, console)
    assert server.hyperv.vms["nps-sensor"].cpus == 4
    with pytest.raises(hyperv_cli.CliError, match=r"^deploy\.hyperv-nic: 127\.0\.0\.1: step sniffing"):
        hyperv_cli.nic(ep, "nps-sensor", "Ethernet 7", "", "", "", True, console)
    with pytest.raises(hyperv_cli.CliError) as caught:
        hyperv_cli.endpoint("h", USER, "digest", False, 0, "")
    assert caught.value.code == 2 and str(caught.value) == "auth 'digest': choose one of ntlm, kerberos, credssp, basic"
    with pytest.raises(hyperv_cli.CliError, match=r"no .*/nps-sensor-\*-vhdx.zip: run inv image.build"):
        hyperv_cli.latest_zip(tmp_path)


# --- the task, as a user runs it ---------------------------------------------------------------


def _inv(args: list[str], password: str | None = PASSWORD) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NPS_WINRM_PASSWORD"}
    if password is not None:
        env["NPS_WINRM_PASSWORD"] = password
    return subprocess.run(
        [str(Path(sys.executable).parent / "inv"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def _task_args(server: WSManServer, tls: Tls) -> list[str]:
    return [
        "deploy.hyperv",
        "--host=127.0.0.1",
        f"--port={server.port}",
        f"--user={USER}",
        f"--ca-bundle={tls.ca}",
        "--management-switch=LAN",
        "--sniffing-adapter=Ethernet 2",
        "--disk-on-host=D:\\Images\\nps-sensor-0.1.0-vhdx.zip",
    ]


@pytest.mark.parametrize("host", ["fresh", "complete"])
def test_inv_dry_run_prints_the_full_plan(start: Start, tls: Tls, host: str) -> None:
    server = start(_fresh() if host == "fresh" else FakeHyperV.complete(DEPLOYED))
    result = _inv([*_task_args(server, tls), "--dry-run"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "New-VM -Name $VmName -Generation 1" in out and "$Apply = $true" in out
    lines = [line.split() for line in out.splitlines() if line.startswith("  ")]
    steps = {parts[1]: parts[0] for parts in lines if parts and parts[0] in ("ok", "change")}
    assert len(steps) == 16
    if host == "fresh":
        assert "13 to change, 3 ok (dry run: nothing was changed)" in out
    else:
        assert set(steps.values()) == {"ok"} and "0 to change, 16 ok" in out
    assert PASSWORD not in out + result.stderr


def test_inv_errors_are_one_line(start: Start, tls: Tls) -> None:
    server = start(_fresh())
    wrong = _inv(_task_args(server, tls), password="wrong")
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr
    assert "rejected the credentials" in wrong.stderr
    none = _inv(_task_args(server, tls), password=None)
    assert none.returncode == 1
    assert none.stderr.strip() == (
        "deploy.hyperv: no password: set NPS_WINRM_PASSWORD in the environment, or run in a terminal to be asked"
    )
    missing = _inv(["deploy.hyperv", "--host=h", f"--user={USER}", "--sniffing-adapter=E"])
    assert missing.returncode == 2 and missing.stderr.startswith("pass --management-switch NAME")
