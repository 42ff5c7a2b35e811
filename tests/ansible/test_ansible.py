"""The Ansible roles (roles/, site.yml) against the appliance.

The fast part runs the playbook in check mode on this machine against a rendered
appliance tree (the appliance's own `nps-sensor appliance apply`, pointed at a temporary
root): bad variables are refused with their names, check mode changes nothing. Check
mode only: nothing here may touch this machine's network.

The slow part boots the image `inv image.build` makes in QEMU (TCG; one boot for the
whole suite) and runs `ansible-playbook` against it over SSH, as nps-admin with the key
given at first boot (OVF property ssh.authorized_key). Proving "reachable on the new
address" with QEMU's user network: QEMU forwards a second loopback port to the guest
address the static step gives (10.0.2.50), so Ansible can only reach the appliance on
that port once the address is applied, and the first port (forwarded to the DHCP
address, 10.0.2.15) stops answering; going back to DHCP reverses both.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from nps_image.ssh import SSHError
from tasks.settings import ansible_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOK = BIN / "ansible-playbook"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

if not PLAYBOOK.exists():
    pytest.skip("ansible-playbook is not installed (pip install -e '.[dev]', ./bootstrap)", allow_module_level=True)


@dataclass
class Run:
    code: int
    output: str
    recap: dict[str, int] = field(default_factory=dict)


def playbook(
    inventory: Path, *args: str, timeout: float = 900, oneline: bool = False, inv: bool = False, play: str = "site.yml"
) -> Run:
    """ansible-playbook site.yml (or `play`), or with `inv` the task users run (`inv configure`)."""
    env = {
        **os.environ,
        **ansible_env(),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    if oneline:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.oneline"
    command = [str(PLAYBOOK), "-i", str(inventory), str(ROOT / play), *args]
    if inv:
        command = [str(BIN / "inv"), "configure", "--inventory", str(inventory), *args]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    recap = {}
    for m in RECAP.finditer(proc.stdout):
        recap = {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
    return Run(proc.returncode, output, recap)


def write_inventory(path: Path, host: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"sensors": {"hosts": {"sensor-1": host}}}, sort_keys=False))
    return path


# --- fast: check mode on a rendered appliance tree ----------------------------------


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """An appliance tree with the image's defaults, and host variables that point the
    roles' apply command at it (connection local, check mode only)."""
    from nps_sensor.appliance.render import files, write
    from nps_sensor.appliance.settings import Settings

    root = tmp_path / "root"
    write(root, files(Settings()))
    wrapper = tmp_path / "nps-sensor"
    wrapper.write_text(f'#!/bin/sh\nexec {BIN / "nps-sensor"} "$@" --root {root}\n')
    wrapper.chmod(0o755)
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
        "appliance_command": str(wrapper),
    }
    yield root, host


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"network_mode": "manual"}, "network_mode"),
    (
        {
            "network_mode": "static",
            "network_address": "10.0.2.50",
            "network_netmask": "255.255.255.0",
            "network_gateway": "10.9.9.1",
            "network_dns": ["10.0.2.3"],
        },
        "network_gateway",
    ),
    (
        {
            "network_mode": "static",
            "network_address": "10.0.2.50",
            "network_netmask": "255.0.255.0",
            "network_gateway": "10.0.2.2",
            "network_dns": ["10.0.2.3"],
        },
        "network_netmask",
    ),
    ({"proxy_enabled": True, "proxy_type": "socks5", "proxy_address": "p.example.net"}, "proxy_type"),
    ({"proxy_enabled": True, "proxy_address": "socks5://p.example.net"}, "proxy_address"),
    (
        {"proxy_enabled": True, "proxy_address": "p.example.net", "proxy_auth": "basic", "proxy_user": "u"},
        "proxy_password",
    ),
    ({"proxy_enabled": True, "proxy_address": "p.example.net", "proxy_port": 70000}, "proxy_port"),
    ({"sniffing_interfaces": [{"name": "eth1", "mode": "ERSPAN"}]}, "sniffing_interfaces"),
    ({"sniffing_interfaces": [{"name": "eth1", "mode": "MIRROR"}]}, "sniffing_interfaces"),
    ({"sniffing_interfaces": [{"name": "eth0"}]}, "sniffing_interfaces"),
    ({"updates_schedule": "03:00; reboot"}, "updates_schedule"),
    ({"updates_mirror": "ftp://ftp.debian.org/debian"}, "updates_mirror"),
]


def failures(output: str) -> dict[str, str]:
    """The first failure's message of each host, from the oneline callback's output."""
    out: dict[str, str] = {}
    for line in output.splitlines():
        host, sep, result = line.partition(" | FAILED! => ")
        if sep and host not in out:
            out[host] = str(json.loads(result).get("msg", ""))
    return out


def test_invalid_variables_are_refused_with_their_name(local: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """One host per bad value, in one run: each fails, its message names the variable."""
    root, host = local
    before = tree(root)
    hosts = {f"bad-{i}": {**host, **variables} for i, (variables, _) in enumerate(INVALID)}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"sensors": {"hosts": hosts}}))
    run = playbook(inventory, "--check", "--forks", str(len(hosts)), oneline=True)
    assert run.code != 0
    messages = failures(run.output)
    for i, (_, name) in enumerate(INVALID):
        assert name in messages.get(f"bad-{i}", ""), (name, messages.get(f"bad-{i}"))
    assert "Traceback" not in run.output
    assert tree(root) == before


def test_configure_without_an_inventory_is_one_line() -> None:
    proc = subprocess.run(
        [str(BIN / "inv"), "configure", "--inventory", "/nonexistent/hosts.yml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "configure: /nonexistent/hosts.yml: no such inventory (see inventory/example/hosts.yml)"
    ]


def test_check_mode_reports_and_changes_nothing(local: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, host = local
    before = tree(root)
    password = secrets.token_hex(8)
    variables = {
        "network_mode": "static",
        "network_address": "10.0.2.50",
        "network_netmask": "24",
        "network_gateway": "10.0.2.2",
        "network_dns": ["10.0.2.3"],
        "proxy_enabled": True,
        "proxy_address": "proxy.example.net",
        "proxy_auth": "basic",
        "proxy_user": "sensor",
        "proxy_password": password,
        "sniffing_interfaces": [{"name": "eth1", "mode": "ERSPAN", "address": "192.0.2.10", "netmask": "24"}],
    }
    run = playbook(write_inventory(tmp_path / "hosts.yml", {**host, **variables}), "--check", "--diff")
    assert run.code == 0, run.output
    assert run.recap["changed"] == 3  # network, proxy, sniffing: each would change
    assert "+Address=10.0.2.50/24" in run.output
    assert "+Address=192.0.2.10/24" in run.output
    assert password not in run.output
    assert tree(root) == before


def test_the_sensor_loader_reads_the_proxy_the_apply_wrote(local: tuple[Path, dict[str, Any]]) -> None:
    from nps_sensor import config
    from nps_sensor.appliance.apply import apply
    from nps_sensor.errors import ConfigError

    root, _ = local
    password = "pw with = and # " + secrets.token_hex(4)
    proxy = {"address": "proxy.example.net", "port": 3128, "auth": "basic", "user": "sensor", "password": password}
    outcome = apply({"proxy": proxy}, root)
    # The sensor's proxy file, and apt's (security updates go through the same proxy).
    assert sorted(c.path for c in outcome.changes) == [
        "/etc/apt/apt.conf.d/80nps-proxy", "/etc/nps-sensor/proxy.env", "/etc/nps-sensor/sensor.yaml"
    ]  # fmt: skip
    assert outcome.restart_sensor and password not in json.dumps(outcome.as_dict())
    env = root / "etc/nps-sensor/proxy.env"
    assert env.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/apt/apt.conf.d/80nps-proxy").stat().st_mode & 0o777 == 0o600
    # A changed password alone is a change, reported without the password.
    again = apply({"proxy": {**proxy, "password": "other"}}, root, check=True)
    assert [c.path for c in again.changes] == ["/etc/apt/apt.conf.d/80nps-proxy", "/etc/nps-sensor/proxy.env"]
    for change in again.changes:
        assert "other" not in change.after and password.replace(" ", "%20") not in change.after
    sensor_yaml = root / "etc/nps-sensor/sensor.yaml"
    text = sensor_yaml.read_text().replace("/etc/nps-sensor/proxy.env", str(env))  # the tree is not at /
    sensor_yaml.write_text(text)
    loaded = config.load(str(sensor_yaml)).proxy
    assert loaded is not None
    assert (loaded.address, loaded.port, loaded.auth, loaded.user, loaded.password) == (
        "proxy.example.net", 3128, "basic", "sensor", password
    )  # fmt: skip
    assert password not in repr(loaded)
    env.write_text(env.read_text().replace("NPS_PROXY_PORT=3128", "NPS_PROXY_PORT=http"))
    with pytest.raises(ConfigError, match=r"proxy.env: NPS_PROXY_PORT: 'http' is not a port"):
        config.load(str(sensor_yaml))


# --- slow: the booted appliance -----------------------------------------------------

STATIC = "10.0.2.50"  # in QEMU's user network (10.0.2.0/24, gateway .2, DNS .3)
DHCP = "10.0.2.15"  # the address QEMU's DHCP server gives first
# The appliance's management network set to STATIC, as the static-address tests ask for it.
STATIC_NETWORK = {
    "network_mode": "static",
    "network_address": STATIC,
    "network_netmask": "255.255.255.0",
    "network_gateway": "10.0.2.2",
    "network_dns": ["10.0.2.3"],
}


@dataclass
class Appliance:
    vm: Any
    work: Path
    port: int  # forwarded to the DHCP address
    static_port: int  # forwarded to STATIC
    hub_port: int  # forwarded to the VM's port 8443 (the hub role's hub)
    variables: dict[str, Any] = field(default_factory=dict)  # the settings applied so far

    def host(self, port: int) -> dict[str, Any]:
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": port,
            "ansible_user": "nps-admin",
            "ansible_ssh_private_key_file": str(self.vm.key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def play(self, port: int, changes: dict[str, Any], *args: str, oneline: bool = False, inv: bool = False) -> Run:
        variables = {**self.variables, **changes}
        inventory = write_inventory(self.work / "hosts.yml", {**self.host(port), **variables})
        return playbook(inventory, *args, oneline=oneline, inv=inv)

    def ssh(self, port: int, *cmd: str, check: bool = True) -> str:
        """A shell line on the appliance (its words joined as written) through the port's forward."""
        try:
            out = self.vm.remote(port).shell(" ".join(cmd), timeout=120)
        except SSHError as e:
            assert not check, str(e)
            return ""
        assert not check or out.code == 0, f"{' '.join(cmd)}: {out.stderr}"
        return str(out.stdout)

    def answers(self, port: int) -> bool:
        return self.ssh(port, "echo", "up", check=False).strip() == "up"

    def addresses(self, port: int, iface: str) -> list[str]:
        info = json.loads(self.ssh(port, "ip", "-j", "-4", "addr", "show", "dev", iface))
        return [f"{a['local']}/{a['prefixlen']}" for i in info for a in i.get("addr_info", [])]

    def digest(self, port: int) -> str:
        """Every file the roles may write, hashed: proof that nothing changed."""
        return self.ssh(port, "sudo", "sh", "-c", "'sha256sum /etc/systemd/network/* /etc/nps-sensor/* /etc/hostname'")

    def sensor_started(self, port: int) -> str:
        return self.ssh(port, "systemctl", "show", "-p", "ActiveEnterTimestampMonotonic,ActiveState", "nps-sensor")

    def loaded(self, port: int) -> dict[str, Any]:
        """The sensor's configuration as the sensor's own loader reads it (password hashed)."""
        script = (
            "import hashlib, json; from nps_sensor import config; "
            "c = config.load('/etc/nps-sensor/sensor.yaml'); p = c.proxy; "
            "print(json.dumps({'interfaces': [[i.name, i.mode] for i in c.sensing.interfaces], "
            "'proxy': p and [p.address, p.port, p.auth, p.user, hashlib.sha256(p.password.encode()).hexdigest()]}))"
        )
        return dict(json.loads(self.ssh(port, "sudo", "/opt/nps-sensor/bin/python", "-c", f'"{script}"')))


def _image_missing() -> str | None:
    for tool in ("qemu-system-x86_64", "xorriso", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"{tool} is not installed (run ./bootstrap)"
    return None


@pytest.fixture(scope="module")
def appliance(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    """One boot of the built image for the whole suite: two sniffing NICs (eth1, eth2).

    The image is the run's build (`appliance_dist`), or the newest one in
    $NPS_ANSIBLE_DIST (a folder `inv image.build` wrote) when working on the roles.
    """
    reason = _image_missing()
    if reason:
        pytest.skip(reason)
    from nps_image.qemu import booted, extract_disk, free_port, keep_logs, latest

    given = os.environ.get("NPS_ANSIBLE_DIST")
    dist = Path(given) if given else request.getfixturevalue("appliance_dist")
    work = tmp_path_factory.mktemp("ansible")
    disk = extract_disk(dist, "nps-sensor", latest(dist, "nps-sensor"), "vmdk", work)
    static_port, hub_port = free_port(), free_port()
    properties = {"hostname": "nps-ansible-1", "mgmt.mode": "dhcp"}
    with booted(
        disk, "vmdk", properties, work / "vm", forwards={STATIC: static_port}, extra_nics=1, ports={8443: hub_port}
    ) as vm:
        try:
            vm.wait_ssh()
            yield Appliance(vm, work, vm.ssh_port, static_port, hub_port)
        finally:
            keep_logs(work / "vm", ROOT / "build" / "ansible-test")


def assert_second_run_changes_nothing(appliance: Appliance, port: int, changes: dict[str, Any]) -> None:
    run = appliance.play(port, changes)
    assert run.code == 0, run.output
    assert run.recap["changed"] == 0, run.output


@pytest.mark.slow
def test_check_mode_on_the_appliance_changes_nothing(appliance: Appliance) -> None:
    before = appliance.digest(appliance.port)
    run = appliance.play(appliance.port, STATIC_NETWORK, "--check", inv=True)  # inv configure --check: with diffs
    assert run.code == 0, run.output
    assert run.recap["changed"] >= 1
    assert f"+Address={STATIC}/24" in run.output
    assert appliance.digest(appliance.port) == before
    assert appliance.addresses(appliance.port, "eth0") == [f"{DHCP}/24"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"network_mode": "static", "network_address": STATIC, "network_netmask": "24", "network_gateway": "10.9.9.1",
          "network_dns": ["10.0.2.3"]}, "network_gateway"),
        ({"proxy_enabled": True, "proxy_type": "socks5", "proxy_address": "p.example.net"}, "proxy_type"),
        ({"sniffing_interfaces": [{"name": "eth1", "mode": "ERSPAN", "netmask": "24"}]}, "sniffing_interfaces"),
    ],
    ids=["gateway-outside-subnet", "socks-proxy", "erspan-without-address"],
)  # fmt: skip
def test_invalid_variables_fail_before_anything_changes(
    appliance: Appliance, changes: dict[str, Any], name: str
) -> None:
    before = appliance.digest(appliance.port)
    run = appliance.play(appliance.port, changes, oneline=True)
    assert run.code != 0
    assert name in failures(run.output).get("sensor-1", ""), run.output
    assert " | CHANGED" not in run.output
    assert appliance.digest(appliance.port) == before


@pytest.mark.slow
def test_static_address_applied_and_reachable_there(appliance: Appliance) -> None:
    assert not appliance.answers(appliance.static_port)
    reconnect = {"network_reconnect_host": "127.0.0.1", "network_reconnect_port": appliance.static_port}
    run = appliance.play(appliance.port, {**STATIC_NETWORK, **reconnect})
    assert run.code == 0, run.output
    assert run.recap["changed"] >= 1
    appliance.variables.update(STATIC_NETWORK)
    # Reachable on the new address only: the forward to 10.0.2.50 answers, the one to
    # the DHCP address does not, and the interface holds the static address alone.
    assert appliance.answers(appliance.static_port)
    assert not appliance.answers(appliance.port)
    assert appliance.addresses(appliance.static_port, "eth0") == [f"{STATIC}/24"]
    routes = json.loads(appliance.ssh(appliance.static_port, "ip", "-j", "route", "show", "default"))
    assert [r.get("gateway") for r in routes] == ["10.0.2.2"]
    assert appliance.addresses(appliance.static_port, "eth1") == []  # sniffing: no address
    assert_second_run_changes_nothing(appliance, appliance.static_port, {})


@pytest.mark.slow
def test_back_to_dhcp(appliance: Appliance) -> None:
    dhcp = {"network_mode": "dhcp", "network_address": "", "network_netmask": "", "network_gateway": "",
            "network_dns": []}  # fmt: skip
    reconnect = {"network_reconnect_host": "127.0.0.1", "network_reconnect_port": appliance.port}
    run = appliance.play(appliance.static_port, {**dhcp, **reconnect})
    assert run.code == 0, run.output
    appliance.variables.update(dhcp)
    assert appliance.answers(appliance.port)
    assert not appliance.answers(appliance.static_port)
    assert appliance.addresses(appliance.port, "eth0") == [f"{DHCP}/24"]
    assert_second_run_changes_nothing(appliance, appliance.port, {})


@pytest.mark.slow
def test_proxy_with_basic_auth_read_back_by_the_sensor(appliance: Appliance) -> None:
    password = "pw-" + secrets.token_hex(6)
    proxy = {
        "proxy_enabled": True,
        "proxy_address": "proxy.example.net",
        "proxy_port": 3128,
        "proxy_auth": "basic",
        "proxy_user": "sensor",
        "proxy_password": password,
    }
    run = appliance.play(appliance.port, proxy, "--diff", "-v")
    assert run.code == 0, run.output
    assert password not in run.output
    appliance.variables.update(proxy)
    loaded = appliance.loaded(appliance.port)
    digest = hashlib.sha256(password.encode()).hexdigest()
    assert loaded["proxy"] == ["proxy.example.net", 3128, "basic", "sensor", digest]
    assert appliance.ssh(appliance.port, "sudo", "stat", "-c", "'%a %U %G'", "/etc/nps-sensor/proxy.env").strip() == (
        "600 root root"
    )
    assert "ActiveState=active" in appliance.sensor_started(appliance.port)
    assert_second_run_changes_nothing(appliance, appliance.port, {})


@pytest.mark.slow
def test_sniffing_interface_to_erspan_and_back(appliance: Appliance) -> None:
    port = appliance.port
    started = appliance.sensor_started(port)
    erspan = {
        "sniffing_interfaces": [
            {"name": "eth1", "mode": "ERSPAN", "address": "192.0.2.10", "netmask": "255.255.255.0"},
            {"name": "eth2"},
        ]
    }
    run = appliance.play(port, erspan)
    assert run.code == 0, run.output
    appliance.variables.update(erspan)
    assert appliance.addresses(port, "eth1") == ["192.0.2.10/24"]
    assert appliance.addresses(port, "eth2") == []
    link = json.loads(appliance.ssh(port, "ip", "-j", "-d", "link", "show", "eth2"))[0]
    assert "UP" in link["flags"] and link.get("promiscuity", 0) >= 1
    assert appliance.loaded(port)["interfaces"] == [["eth1", "ERSPAN"], ["eth2", "DEFAULT"]]
    restarted = appliance.sensor_started(port)
    assert restarted != started and "ActiveState=active" in restarted

    assert_second_run_changes_nothing(appliance, port, {})
    assert appliance.sensor_started(port) == restarted  # nothing changed: no restart

    back = {"sniffing_interfaces": [{"name": "eth1", "mode": "DEFAULT"}]}
    run = appliance.play(port, back)
    assert run.code == 0, run.output
    appliance.variables.update(back)
    assert appliance.addresses(port, "eth1") == []
    assert appliance.loaded(port)["interfaces"] == [["eth1", "DEFAULT"]]
    assert not appliance.ssh(port, "ls", "/etc/systemd/network/", check=False).count("20-sniffing-eth2")
    assert_second_run_changes_nothing(appliance, port, {})


@pytest.mark.slow
def test_registration_with_a_hub_on_the_host(appliance: Appliance, tmp_path: Path) -> None:
    """The registration role against `nps-hub serve` on the host (10.0.2.2 from the VM),
    its certificate pinned by fingerprint: a wrong code fails the host with the hub's
    reason, the right one registers, the uplink reports, a second run changes nothing."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed: the hub's certificate (./bootstrap)")
    import ssl

    from benchmarks.hublab import HubProcess
    from tests.support.waiting import wait_for

    with HubProcess(tmp_path, also_known_as=("10.0.2.2",)) as hub:
        api = hub.api()
        sensor_id, code = api.create_sensor("ansible-1")
        assert hub.cert is not None
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(hub.cert.read_text())).hexdigest()
        registration = {"registration_hub": f"https://10.0.2.2:{hub.port}", "registration_fingerprint": pin}
        # Straight to the hub: an earlier test left a proxy that does not exist (which the
        # registration then names as the reason: "cannot reach the hub ... through the proxy").
        appliance.variables["proxy_enabled"] = False
        wrong = "12345678901234" if code != "12345678901234" else "43210987654321"
        run = appliance.play(appliance.port, {**registration, "registration_code": wrong})
        assert run.code != 0 and "personalization code not recognised" in run.output, run.output
        assert wrong not in run.output

        run = appliance.play(appliance.port, {**registration, "registration_code": code})
        assert run.code == 0, run.output
        assert code not in run.output and run.recap["changed"] >= 1
        heartbeat = "a heartbeat from the appliance's uplink at the hub"
        wait_for(lambda: api.sensor(sensor_id)["last_heartbeat"], 240, every=3, why=heartbeat)
        assert api.sensor(sensor_id)["hostname"] == "nps-ansible-1"
        assert appliance.ssh(appliance.port, "systemctl", "is-active", "nps-uplink").strip() == "active"
        assert_second_run_changes_nothing(appliance, appliance.port, {**registration, "registration_code": code})


@pytest.mark.slow
def test_the_hub_role_installs_a_hub_a_sensor_registers_with(appliance: Appliance, tmp_path: Path) -> None:
    """The hub role on the booted image as a Debian 12 server (SQLite, its own certificate,
    the first administrator from a vaulted variable): the hub answers over the forwarded
    port, a sensor on this machine registers with it, a second run changes nothing."""
    import httpx

    wheels = ROOT / "build" / "hub-wheels"
    subprocess.run([str(BIN / "inv"), "hub.wheels", "--output", str(wheels)], check=True, cwd=ROOT, timeout=900)
    password = "hub-" + secrets.token_hex(8)
    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text(secrets.token_hex(16))
    vault_pass.chmod(0o600)
    encrypted = subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(vault_pass), "--stdin-name",
         "hub_admin_password"],
        input=password, capture_output=True, text=True, check=True, env={**os.environ, **ansible_env()},
    ).stdout  # fmt: skip
    inventory = tmp_path / "hubs.yml"
    host = {**appliance.host(appliance.port), "hub_wheels": str(wheels), "hub_tls_names": ["127.0.0.1"]}
    inventory.write_text(
        yaml.safe_dump({"hubs": {"hosts": {"hub-1": host}}}, sort_keys=False)
        + "".join(f"      {line}\n" for line in encrypted.splitlines())
    )
    run = playbook(inventory, "--vault-password-file", str(vault_pass), play="hub.yml", timeout=1800)
    assert run.code == 0, run.output
    assert password not in run.output
    fingerprint = re.search(r"certificate SHA-256 ([0-9A-F:a-f]+)", run.output)
    assert fingerprint, run.output

    url = f"https://127.0.0.1:{appliance.hub_port}"
    with httpx.Client(base_url=url, verify=False, timeout=60) as http:  # the sensor below pins it
        token = http.post("/api/v1/login", json={"name": "admin", "password": password}).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        created = http.post("/api/v1/sensors", json={"name": "host-sensor", "location": "lab"}).json()
    state = tmp_path / "hub.json"
    registered = subprocess.run(
        [str(BIN / "nps-sensor"), "register", "--hub", url, "--fingerprint", fingerprint[1], "--state", str(state),
         "--proxy-file", "-"],
        input=created["code"] + "\n", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert json.loads(state.read_text())["name"] == "host-sensor"
    unit = appliance.ssh(appliance.port, "systemctl", "show", "-p", "User,ActiveState", "nps-hub")
    assert "User=nps-hub" in unit and "ActiveState=active" in unit
    assert appliance.ssh(appliance.port, "sudo", "stat", "-c", "'%a %U'", "/etc/nps-hub/hub.env").strip() == "600 root"

    again = playbook(inventory, "--vault-password-file", str(vault_pass), play="hub.yml", timeout=1800)
    assert again.code == 0, again.output
    assert again.recap["changed"] == 0, again.output
