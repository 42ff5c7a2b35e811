"""`nps-sensor console` driven as a person drives it: in a real terminal (tmux, 80x25),
with keys sent by `tmux send-keys` and the screen read back by `tmux capture-pane`,
against a temporary root holding the files the console manages. Registration goes to
a real `nps-hub serve` on loopback with a test certificate.

Every wait is for text on the screen, with a timeout (no fixed sleeps). The screens
are saved as text (tmp_path/captures, and $NPS_CONSOLE_CAPTURES when set: the README's
"Appliance console" section comes from there).
"""

from __future__ import annotations

import ctypes.util
import hashlib
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.hublab import SENSOR_BIN, HubProcess, Tinyproxy, free_port
from nps_sensor.appliance.apply import apply, current
from nps_sensor.appliance.render import files, write
from nps_sensor.appliance.settings import Settings, SettingsError
from nps_sensor.console.actions import Console, RolledBack
from nps_sensor.console.system import NoSystem, System
from nps_sensor.live.status import StatusServer
from tests.support.terminal import Screen

if shutil.which("tmux") is None:
    pytest.skip("tmux is needed to drive the console (./bootstrap installs it)", allow_module_level=True)

MGMT = "etc/systemd/network/10-management.network"
PROXY = "etc/nps-sensor/proxy.env"

RECORDER = """#!/bin/sh
# The console's system command in tests: records each request (never a password: that
# comes on stdin); an address "arrives", and DHCP gives one, unless the test left a file
# saying it does not. The machine has eth0 to eth2; root's password is rootpw.
here="$(dirname "$0")"
echo "$@" >> "$here/requests.log"
case "$1" in
    has-address) [ ! -e "$here/no-address" ] ;;
    addresses)
        if [ "$#" -eq 1 ]; then echo "eth0 192.0.2.99/24"
        elif [ ! -e "$here/no-address" ]; then echo 192.0.2.99/24
        fi ;;
    interfaces) printf 'lo\neth0\neth1\neth2\n' ;;
    authenticate) IFS= read -r password; [ "$1 $2 $password" = "authenticate root rootpw" ] ;;
    update) case "$2" in
        *broken*) echo "0.1.2 failed its health check (nps-sensor.service exited (status 3)); rolled back to 0.1.0"
                  exit 1 ;;
        *) echo "updated from 0.1.0 to 0.1.1" ;;
        esac ;;
esac
"""


def make_root(where: Path) -> Path:
    root = where / "root"
    write(root, files(Settings()))
    return root


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[tuple[Screen, Path]]:
    root = make_root(tmp_path)
    recorder = tmp_path / "system"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    command = f"{SENSOR_BIN} console --root {root} --system-command {recorder} --rollback-seconds 1"
    screen = Screen(tmp_path, command)
    try:
        yield screen, root
    finally:
        screen.close()


def requests(root: Path) -> list[str]:
    log = root.parent / "requests.log"
    return log.read_text().splitlines() if log.exists() else []


def apply_static(screen: Screen, netmask: str) -> None:
    """On the network form with DHCP chosen: Static, address 192.0.2.10, `netmask`, gateway
    192.0.2.1, DNS 192.0.2.53, then Apply."""
    screen.keys("Down", "Space", "Tab")  # Static, then the IP address field
    for value in ("192.0.2.10", netmask, "192.0.2.1", "192.0.2.53"):
        screen.type(value)
        screen.keys("Tab")
    screen.keys("Tab", "Enter")  # past DNS 2 (optional), on Apply


def test_static_address_set_shown_and_back_to_dhcp(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    screen.wait("Personalize this scanner", "System Shutdown")
    screen.save("main-menu")
    screen.menu(1)
    screen.wait("Set up Network", "(X) DHCP", "address now 192.0.2.99/24")
    screen.save("network-dhcp")
    apply_static(screen, "255.255.255.0")
    shown = screen.wait("Applied. Management network: static 192.0.2.10")
    assert "Current: static 192.0.2.10/255.255.255.0 gateway 192.0.2.1 on eth0" in shown
    assert "(X) Static address" in shown
    screen.save("network-static")
    text = (root / MGMT).read_text()
    assert "Address=192.0.2.10/24" in text and "Gateway=192.0.2.1" in text and "DNS=192.0.2.53" in text
    assert "reload-network eth0" in requests(root) and "has-address eth0 192.0.2.10" in requests(root)

    # Back to the menu with Esc, in again: the form shows what the files say.
    screen.keys("Escape")
    screen.menu(1)
    screen.wait("Current: static 192.0.2.10/255.255.255.0")
    screen.keys("Space")  # DHCP (the first field)
    screen.keys(*(["Tab"] * 7), "Enter")
    screen.wait("Applied. Management network: DHCP.", "(X) DHCP")
    assert current(root).management.mode == "dhcp"
    assert "Address=" not in (root / MGMT).read_text()


def test_an_invalid_netmask_is_refused_naming_the_field(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    before = (root / MGMT).read_bytes()
    screen.menu(1)
    screen.wait("(X) DHCP")
    apply_static(screen, "255.0.255.0")
    shown = screen.wait("Netmask: management netmask: '255.0.255.0' is not a netmask")
    screen.save("network-invalid-netmask")
    assert "Current: DHCP" in shown
    assert (root / MGMT).read_bytes() == before
    # And a gateway off the subnet names the gateway.
    screen.keys("Up", "Up", "Up", "Up", "End")  # Apply -> DNS 2 -> DNS 1 -> Gateway -> Netmask
    screen.keys(*(["BSpace"] * 11))
    screen.type("255.255.255.0")
    screen.keys("Tab", "End")
    screen.keys(*(["BSpace"] * 9))
    screen.type("198.51.100.1")
    screen.keys("Tab", "Tab", "Tab", "Enter")
    screen.wait("Gateway: management gateway 198.51.100.1 is outside 192.0.2.0/24")
    assert (root / MGMT).read_bytes() == before


def test_a_static_address_that_does_not_arrive_is_rolled_back(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    before = (root / MGMT).read_bytes()
    (root.parent / "no-address").touch()
    screen.menu(1)
    screen.wait("(X) DHCP")
    apply_static(screen, "24")
    screen.wait("did not appear on eth0 within 1 s: the previous network settings are restored")
    screen.save("network-rolled-back")
    assert (root / MGMT).read_bytes() == before
    assert requests(root).count("reload-network eth0") == 2


def test_dhcp_without_a_lease_is_rolled_back(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    static = {"mode": "static", "address": "192.0.2.10", "netmask": "24", "gateway": "192.0.2.1", "dns": ["192.0.2.53"]}
    apply({"management": static}, root)
    before = (root / MGMT).read_bytes()
    (root.parent / "no-address").touch()
    screen.menu(1)
    screen.wait("Current: static 192.0.2.10/255.255.255.0")
    screen.keys("Space", *(["Tab"] * 7), "Enter")  # DHCP, then Apply
    screen.wait("no DHCP lease on eth0 within 1 s: the previous network settings are restored")
    screen.save("network-dhcp-rolled-back")
    assert (root / MGMT).read_bytes() == before and current(root).management.address == "192.0.2.10"
    assert requests(root).count("reload-network eth0") == 2 and "addresses eth0" in requests(root)


def test_proxy_with_ntlm_then_disabled(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    screen.menu(2)
    screen.wait("Proxy Configuration", "[ ] Use a proxy")
    screen.keys("Space", "Tab")
    screen.type("proxy.example.org")
    screen.keys("Tab")
    screen.type("3128")
    screen.keys("Tab", "Right", "Right", "Space", "Tab")  # NTLMAuth, then User
    screen.type("CORP\\sensor")
    screen.keys("Tab")
    screen.type("s3cret-Pass")
    shown = screen.wait("***********")
    assert "s3cret-Pass" not in shown
    screen.keys("Tab", "Enter")
    shown = screen.wait("Applied. Proxy: proxy.example.org:3128 (ntlm).", "(X) NTLMAuth")
    screen.save("proxy-ntlm")
    assert "s3cret" not in shown and "leave empty to keep the current password" in shown
    env = (root / PROXY).read_text()
    assert "NPS_PROXY_AUTH=ntlm" in env and "NPS_PROXY_USER=CORP\\sensor" in env
    assert "NPS_PROXY_PASSWORD=s3cret-Pass" in env and (root / PROXY).stat().st_mode & 0o777 == 0o600
    assert "restart-services" in requests(root)

    # Applying again with the password field empty keeps the password.
    screen.keys(*(["Tab"] * 6), "Enter")  # address, port, auth, user, password, Apply
    screen.wait("Nothing changed.")
    assert "NPS_PROXY_PASSWORD=s3cret-Pass" in (root / PROXY).read_text()

    screen.keys("Space")  # the form was drawn again: the check box has the focus
    screen.wait("[ ] Use a proxy")
    screen.keys(*(["Tab"] * 6), "Enter")
    screen.wait("Applied. Proxy: none.")
    screen.save("proxy-disabled")
    assert not (root / PROXY).exists() and not current(root).proxy.enabled


def test_registration_against_a_hub(appliance: tuple[Screen, Path], tmp_path: Path) -> None:
    if shutil.which("openssl") is None or shutil.which("tinyproxy") is None:
        pytest.skip("openssl and tinyproxy are needed: the hub's test certificate, the proxy (./bootstrap)")
    screen, root = appliance
    with HubProcess(tmp_path) as hub:
        _, code = hub.api().create_sensor("console-1", "rack 4")
        wrong = "12345678901234" if code != "12345678901234" else "43210987654321"
        assert hub.cert is not None

        def register(url: str, digits: str, ca: str) -> None:
            screen.menu(0)
            screen.wait("Personalize this scanner", "Hub URL")
            screen.type(url)
            screen.keys("Tab")
            screen.type(digits)
            screen.keys("Tab")
            screen.type(ca)
            screen.keys("Tab", "Enter")

        # Without the certificate: not trusted.
        register(hub.url, code, "")
        shown = screen.wait("Registration failed: certificate not trusted")
        assert code not in shown
        screen.keys("Escape")
        register(hub.url, wrong, str(hub.cert))
        shown = screen.wait("Registration failed: wrong code", "personalization code not recognised")
        assert wrong not in shown and "**************" in shown  # the code is masked
        screen.save("personalize-wrong-code")
        screen.keys("Escape")
        register(f"https://127.0.0.1:{free_port()}", code, str(hub.cert))
        screen.wait("Registration failed: hub unreachable", "Check: the hub's address")
        screen.keys("Escape")
        # Through a proxy that refuses the credentials (set through the same door as the console's form).
        proxy = Tinyproxy(tmp_path, "sensor", "right-password")
        proxy.start()
        try:
            auth = {"enabled": True, "address": proxy.host, "port": proxy.port, "auth": "basic", "user": "sensor"}
            apply({"proxy": {**auth, "password": "wrong-password"}}, root)
            register(hub.url, code, str(hub.cert))
            screen.wait("Registration failed: proxy refused", "Check: the proxy's address")
            screen.keys("Escape")
        finally:
            proxy.stop()
        apply({"proxy": {"enabled": False}}, root)
        register(hub.url, code, str(hub.cert))
        shown = screen.wait("Appliance registration completed successfully")
        screen.save("personalize-done")
        assert code not in shown and "*" not in shown  # and the field is emptied
        assert (root / "var/lib/nps-sensor/hub.json").stat().st_mode & 0o777 == 0o600
        assert "start-uplink" in requests(root)
        screen.keys("Escape")
        screen.menu(4)
        shown = screen.wait("Registration:   registered as 'console-1'", f"Hub:            {hub.url}")
        assert "Sensing:        not reachable" in shown
        screen.save("status")


def test_sniffing_interfaces_edited(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    yaml_path = root / "etc/nps-sensor/sensor.yaml"
    screen.menu(3)
    shown = screen.wait("Sniffing interfaces", "[X] eth1", "[ ] eth2")
    assert "eth0" not in shown.split("Sniffing interfaces")[1]  # the management interface is not offered
    screen.save("sniffing")
    # eth2 in ERSPAN mode, with an address that is not one.
    screen.keys("Tab", "Tab", "Tab", "Space", "Right", "Right", "Space", "Tab")  # eth1's two fields, eth2
    screen.type("10.0.0")
    screen.keys("Tab")
    screen.type("24")
    screen.keys("Tab", "Enter")
    screen.wait("ERSPAN address: sniffing eth2 address: '10.0.0' is not an IPv4 address")
    screen.save("sniffing-invalid-address")
    before = yaml_path.read_bytes()
    assert "eth2" not in before.decode() and "reload-network eth2" not in requests(root)
    screen.keys("Up", "Up", "End")  # Apply -> netmask -> address
    screen.type(".5")
    screen.keys("Tab", "End", "BSpace", "BSpace")
    screen.type("255.255.0")
    screen.keys("Tab", "Enter")
    screen.wait("ERSPAN netmask: sniffing eth2 netmask: '255.255.0' is not a netmask")
    screen.keys("Up", "End", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace")
    screen.type("24")
    screen.keys("Tab", "Enter")
    shown = screen.wait("Applied. Sniffing on eth1 (DEFAULT), eth2 (ERSPAN 10.0.0.5/24).")
    screen.save("sniffing-erspan")
    assert "[X] eth2" in shown and "(X) ERSPAN" in shown
    sniffing = current(root).sniffing
    assert [(i.name, i.mode, i.address, i.prefix if i.address else 0) for i in sniffing] == [
        ("eth1", "DEFAULT", "", 0),
        ("eth2", "ERSPAN", "10.0.0.5", 24),
    ]
    assert "Address=10.0.0.5/24" in (root / "etc/systemd/network/20-sniffing-eth2.network").read_text()
    assert {"reload-network eth2", "restart-services"} <= set(requests(root))

    # None chosen: refused, naming the field; nothing changes.
    before = yaml_path.read_bytes()
    screen.keys("Space", "Tab", "Tab", "Tab", "Space", "Tab", "Tab", "Tab", "Enter")  # untick eth1, eth2; Apply
    screen.wait("Sniff on: choose at least one interface")
    assert yaml_path.read_bytes() == before

    # eth1 unticked: its file goes, and networkd is told.
    screen.keys("Up", "Up", "Up", "Space", "Tab", "Tab", "Tab", "Enter")
    screen.wait("Applied. Sniffing on eth2 (ERSPAN 10.0.0.5/24).", "[ ] eth1")
    assert [i.name for i in current(root).sniffing] == ["eth2"]
    assert not (root / "etc/systemd/network/20-sniffing-eth1.network").exists()
    assert "reload-network eth1" in requests(root)


def test_reboot_and_shutdown_after_confirmation(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    screen.menu(5)
    screen.wait("Reboot the appliance now?")
    screen.save("reboot-confirm")
    screen.keys("Enter")  # No is the default
    screen.wait("Main menu")
    assert "reboot" not in requests(root)
    screen.menu(5)
    screen.wait("Reboot the appliance now?")
    screen.keys("Right", "Enter")
    screen.wait("reboot requested.")
    screen.keys("Escape")
    screen.menu(6)
    screen.wait("Shut the appliance down now?")
    screen.keys("Right", "Enter")
    screen.wait("poweroff requested.")
    assert requests(root)[-2:] == ["reboot", "poweroff"]


def test_update_from_a_bundle_copied_to_the_appliance(appliance: tuple[Screen, Path]) -> None:
    """The newest bundle in the updates folder is offered; a rollback is said on the screen;
    after an update the console ends, to start again in the new version (Restart=always)."""
    screen, root = appliance
    updates = root / "var/lib/nps-sensor/updates"
    updates.mkdir(parents=True)
    (updates / "0.1.2-broken.tar").write_bytes(b"")
    screen.menu(8)
    screen.wait("Update the sensor", "/var/lib/nps-sensor/updates/0.1.2-broken.tar")
    screen.save("update")
    screen.keys("Tab", "Enter")  # Install
    screen.wait("failed its health check (nps-sensor.service exited (status 3)); rolled back to 0.1.0")
    assert requests(root)[-1] == "update /var/lib/nps-sensor/updates/0.1.2-broken.tar"
    screen.keys("Escape")
    screen.menu(8)
    screen.wait("Update the sensor")
    screen.keys(*(["BSpace"] * len("/var/lib/nps-sensor/updates/0.1.2-broken.tar")))
    screen.type("/tmp/0.1.1.tar")
    screen.keys("Tab", "Enter")
    screen.wait("console-exited")
    assert requests(root)[-1] == "update /tmp/0.1.1.tar"


def test_root_shell_asks_for_the_password(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    screen.menu(7)
    screen.wait("Root password")
    screen.save("root-shell")
    screen.type("wrong")
    screen.keys("Tab", "Enter")
    screen.wait("Wrong password")
    assert "shell" not in requests(root) and "authenticate root" in requests(root)
    screen.keys("Up")
    screen.type("rootpw")
    screen.keys("Tab", "Enter")
    screen.wait("Main menu")
    deadline = time.monotonic() + 10
    while "shell" not in requests(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "shell" in requests(root)
    log = (root.parent / "requests.log").read_text()
    assert "rootpw" not in log and "wrong" not in log  # passwords go on stdin, never in arguments


def test_pam_refuses_a_wrong_password() -> None:
    """The appliance's own check (PAM's "login" service) on this machine's PAM stack: a wrong
    password is a plain refusal, no exception; no account is touched. Slow by design:
    pam_faildelay holds a failure for up to 3 s."""
    if ctypes.util.find_library("pam") is None:
        pytest.skip("libpam is not installed (Debian: libpam0g)")
    assert System().authenticate("root", "certainly-wrong") is False
    assert System().authenticate("no-such-user-nps", "x\0y") is False  # a NUL PAM cannot take


def test_the_machines_nics_from_ip_link() -> None:
    """What the sniffing form offers on a real machine: NICs only (a device behind the link),
    never loopback nor the kernel's virtual links."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    found = System().interfaces()
    assert "lo" not in found
    assert all(Path("/sys/class/net", name, "device").exists() for name in found)


def test_rollback_with_an_injected_checker(tmp_path: Path) -> None:
    """The rollback mechanism itself, with a System whose address never arrives (static or DHCP)."""

    class Lost(NoSystem):
        def __init__(self) -> None:
            self.asked: list[str] = []

        def has_address(self, interface: str, address: str) -> bool:
            self.asked.append(address)
            return False

        def has_any_address(self, interface: str) -> bool:
            self.asked.append(interface)
            return False

    root = make_root(tmp_path)
    before = (root / MGMT).read_bytes()
    system = Lost()
    console = Console(root, system, rollback_seconds=0)
    request = {"mode": "static", "address": "10.1.2.3", "netmask": "24", "gateway": "10.1.2.1", "dns": ["10.1.2.1"]}
    with pytest.raises(RolledBack, match=r"10\.1\.2\.3 did not appear on eth0"):
        console.set_network(request)
    assert (root / MGMT).read_bytes() == before and system.asked == ["10.1.2.3"]
    # An address that arrives stays.
    assert "static 10.1.2.3" in Console(root, NoSystem()).set_network(request)
    assert current(root).management.address == "10.1.2.3"

    # DHCP that gives no address: the static file comes back.
    before = (root / MGMT).read_bytes()
    system.asked.clear()
    with pytest.raises(
        RolledBack, match=r"^no DHCP lease on eth0 within 0 s: the previous network settings are restored"
    ):
        console.set_network({"mode": "dhcp"})
    assert (root / MGMT).read_bytes() == before and system.asked == ["eth0"]
    assert current(root).management.mode == "static"
    assert "DHCP" in Console(root, NoSystem()).set_network({"mode": "dhcp"})
    assert current(root).management.mode == "dhcp"


def test_sniffing_choices_and_apply_with_an_injected_system(tmp_path: Path) -> None:
    """The machine's NICs beside the configured ones, and what an apply asks of the machine."""

    class Machine(NoSystem):
        def __init__(self) -> None:
            self.asked: list[str] = []

        def interfaces(self) -> list[str]:
            return ["eth0", "eth1", "eth3"]

        def reload_network(self, interface: str) -> bool:
            self.asked.append(f"reload {interface}")
            return True

        def restart_services(self) -> bool:
            self.asked.append("restart")
            return True

    root = make_root(tmp_path)
    system = Machine()
    console = Console(root, system)
    choices = [(c.interface.name, c.interface.mode, c.chosen, c.found) for c in console.sniffing_choices()]
    assert choices == [("eth1", "DEFAULT", True, True), ("eth3", "DEFAULT", False, True)]  # eth0 manages
    said = console.set_sniffing(
        [{"name": "eth1"}, {"name": "eth3", "mode": "ERSPAN", "address": "10.9.8.7", "netmask": "255.255.255.0"}]
    )
    assert said == "Applied. Sniffing on eth1 (DEFAULT), eth3 (ERSPAN 10.9.8.7/24)."
    assert system.asked == ["reload eth1", "reload eth3", "restart"]
    assert (
        console.set_sniffing(
            [{"name": "eth1"}, {"name": "eth3", "mode": "ERSPAN", "address": "10.9.8.7", "netmask": "24"}]
        )
        == "Nothing changed."
    )
    for bad, where in (
        ([{"name": "eth3", "mode": "ERSPAN", "address": "10.9.8.256", "netmask": "24"}], "sniffing.address"),
        ([{"name": "eth3", "mode": "ERSPAN", "address": "10.9.8.7", "netmask": "255.0.255.0"}], "sniffing.netmask"),
        ([{"name": "eth0"}], "sniffing"),
        ([], "sniffing"),
    ):
        with pytest.raises(SettingsError) as e:
            console.set_sniffing(bad)
        assert e.value.field == where, bad
    assert [i.name for i in current(root).sniffing] == ["eth1", "eth3"]  # a refusal changes nothing
    # A configured NIC the machine no longer has stays offered, marked; one it never had is not invented.
    system.interfaces = lambda: ["eth0", "eth1"]  # type: ignore[method-assign]
    choices = [(c.interface.name, c.interface.mode, c.chosen, c.found) for c in console.sniffing_choices()]
    assert choices == [("eth1", "DEFAULT", True, True), ("eth3", "ERSPAN", True, False)]
    assert all(c.found for c in Console(root, NoSystem()).sniffing_choices())  # no machine: nothing is missing


def test_console_outside_a_terminal_or_root_fails_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "nps_sensor.cli", "console", "--root", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a directory" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "nps_sensor.cli", "console", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "needs a terminal" in r.stderr


def test_a_broken_file_is_one_line_on_the_screen(appliance: tuple[Screen, Path]) -> None:
    screen, root = appliance
    (root / "etc/nps-sensor/sensor.yaml").write_text("sensing: [unclosed\n")
    screen.menu(3)
    shown = screen.wait("sensor.yaml: not valid YAML", "Main menu")
    assert "Traceback" not in shown


def test_status_shows_the_sensing_state_and_throughput(appliance: tuple[Screen, Path]) -> None:
    """The live service's real status endpoint (its StatusServer) at the address sensor.yaml names."""
    screen, root = appliance
    port = free_port()
    yaml_path = root / "etc/nps-sensor/sensor.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("127.0.0.1:8470", f"127.0.0.1:{port}"))
    body = {"state": "sensing", "workers": 2, "throughput": {"mbps": 412.5, "pps": 61234}, "assets_last_hour": 87}
    server = StatusServer(f"127.0.0.1:{port}", lambda: body, {})
    server.start()
    try:
        screen.menu(4)
        shown = screen.wait("Sensing:        sensing (2 capture workers)")
        assert "Throughput:     412.5 Mbit/s, 61234 packets/s" in shown and "87 active in the last hour" in shown
        assert "Registration:   not registered" in shown and "eth0 192.0.2.99/24" in shown
        screen.save("status-sensing")
    finally:
        server.stop()


def test_personalize_with_what_the_deployment_gave(appliance: tuple[Screen, Path], tmp_path: Path) -> None:
    """The OVF properties named the hub, the code and the certificate's fingerprint, but the
    boot could not register (say the hub was down): the form offers them, Register is enough."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed: the hub's test certificate (./bootstrap)")
    screen, root = appliance
    with HubProcess(tmp_path) as hub:
        sid, code = hub.api().create_sensor("deployed-console")
        assert hub.cert is not None
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(hub.cert.read_text())).hexdigest()
        settings = Settings(registration_hub=hub.url, registration_code=code, registration_fingerprint=pin)
        write(root, files(settings))
        screen.menu(0)
        shown = screen.wait("(left empty: the code the deployment gave)", hub.url, pin[:40])
        assert code not in shown
        screen.save("personalize-offered")
        screen.keys("Tab", "Tab", "Tab", "Enter")
        screen.wait("Appliance registration completed successfully")
        screen.save("personalize-deployed")
        assert not (root / "etc/nps-sensor/registration").exists()  # a code works once
        assert hub.api().sensor(sid)["status"] == "Paused"
