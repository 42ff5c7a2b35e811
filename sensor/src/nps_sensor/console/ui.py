"""The console's screens (urwid): a main menu and one form per task, usable with the
arrow keys, Tab, Space and Enter on an 80x25 text screen.

Every change goes through `actions.Console` (the appliance's shared settings code);
the screen only gathers the fields and shows the outcome. Passwords and the code are
typed into masked fields and never shown or logged.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
from collections.abc import Callable
from typing import Any

import urwid

from nps_sensor.appliance.settings import SettingsError
from nps_sensor.console.actions import Console, field_label
from nps_sensor.errors import SensorError

# The fourth column is for monochrome terminals (a serial line's vt220): the focus must show there too.
PALETTE = [
    ("header", "white", "dark blue", "standout"),
    ("footer", "black", "light gray", "standout"),
    ("focus", "white", "dark red", "standout"),
    ("error", "light red", "default", "bold"),
    ("ok", "light green", "default", "bold"),
    ("label", "light gray", "default", ""),
    ("field", "white", "dark gray", "underline"),
]
HELP = "Arrows/Tab: move  Space: select  Enter: activate  Esc: back  Ctrl-L: redraw"
SERIAL_SIZE = (25, 80)  # rows, columns: what a serial line is given when it reports none


class TabListBox(urwid.ListBox[int]):
    """Tab and Shift-Tab go to the next and previous field. Not Down and Up: in a field
    whose text wraps (a fingerprint), those move the cursor inside the field."""

    def keypress(self, size: tuple[int, int], key: str) -> str | None:  # type: ignore[override]
        if key not in ("tab", "shift tab"):
            return super().keypress(size, key)
        following = self.body.get_next if key == "tab" else self.body.get_prev
        widget, position = following(self.focus_position)
        while widget is not None and position is not None:
            if widget.selectable():
                self.focus_position = position
                return None
            widget, position = following(position)
        return None


class ButtonRow(urwid.Columns):
    """A row of buttons entered on its first button (or the one last used), not on
    the one under the cursor's column of the field above."""

    def move_cursor_to_coords(self, size: Any, col: Any, row: int) -> bool:
        return True


def button(label: str, on_press: Callable[[], None]) -> urwid.Widget:
    b = urwid.Button(label, on_press=lambda _b: on_press())
    return urwid.AttrMap(b, None, focus_map="focus")


def field(caption: str, text: str = "", mask: str | None = None) -> tuple[urwid.Widget, urwid.Edit]:
    edit = urwid.Edit("", text, mask=mask)
    row = urwid.Columns(
        [(22, urwid.Text(("label", caption))), urwid.AttrMap(edit, "field", focus_map="focus")], dividechars=1
    )
    return row, edit


def fit_serial_line(fd: int) -> None:
    """A serial line has no window size (0x0), so full-screen programs cannot lay out:
    give it 80x25, the screen the console is designed for. A real terminal keeps its own."""
    try:
        rows, cols, *_ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        if rows == 0 or cols == 0:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *SERIAL_SIZE, 0, 0))
    except OSError:
        pass


class App:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.header = urwid.Text("", align="center")
        self.message = urwid.Text("")
        self.body: urwid.WidgetPlaceholder[Any] = urwid.WidgetPlaceholder(urwid.SolidFill(" "))
        footer = urwid.Pile([self.message, urwid.AttrMap(urwid.Text(HELP), "footer")])
        self.frame = urwid.Frame(self.body, header=urwid.AttrMap(self.header, "header"), footer=footer)
        self.loop = urwid.MainLoop(self.frame, PALETTE, unhandled_input=self.unhandled, handle_mouse=False)
        self.back: Callable[[], None] | None = None
        self.main_menu()

    def run(self) -> None:
        self.loop.run()

    # -- plumbing --------------------------------------------------------------------
    def show(self, title: str, widgets: list[urwid.Widget], back: Callable[[], None] | None = None) -> None:
        try:
            hostname = self.console.settings().hostname
        except SettingsError:
            hostname = socket.gethostname()
        self.header.set_text(f"NPS sensor appliance {hostname}")
        walker = urwid.SimpleFocusListWalker(widgets)
        self.body.original_widget = urwid.LineBox(TabListBox(walker), title=title)  # type: ignore[arg-type]
        self.back = back
        self.say("")

    def say(self, text: str, style: str = "ok") -> None:
        self.message.set_text((style, text) if text else "")

    def error(self, text: str) -> None:
        self.say(text, "error")

    def busy(self, text: str) -> None:
        self.say(text, "label")
        self.loop.draw_screen()

    def unhandled(self, key: str | tuple[str, int, int, int]) -> bool | None:
        if key == "ctrl l":
            # A serial line shows nothing of what was drawn before one connected, and kernel
            # messages can land on the screen: redraw all of it, as curses programs do.
            self.loop.screen.clear()
            return True
        if key == "esc" and self.back is not None:
            self.back()
            return True
        return None

    # -- the main menu ---------------------------------------------------------------
    def main_menu(self) -> None:
        items = [
            ("Personalize this scanner", self.personalize),
            ("Set up Network", self.network),
            ("Proxy Configuration", self.proxy),
            ("Sniffing interfaces", self.sniffing),
            ("Status", self.status),
            ("Reboot", lambda: self.confirm("Reboot the appliance now?", "reboot")),
            ("System Shutdown", lambda: self.confirm("Shut the appliance down now?", "poweroff")),
            ("Root shell", self.root_shell),
            ("Update the sensor", self.update),
        ]
        widgets: list[urwid.Widget] = [urwid.Text("Choose with the arrow keys and Enter."), urwid.Divider()]
        widgets += [urwid.Padding(button(label, self.guarded(action)), width=30, left=2) for label, action in items]
        self.show("Main menu", widgets)

    def guarded(self, action: Callable[[], None]) -> Callable[[], None]:
        """A screen that cannot open (an unreadable or hand-broken file) says why, in one line."""

        def run() -> None:
            try:
                action()
            except (SettingsError, SensorError) as e:
                self.main_menu()
                self.error(str(e))
            except OSError as e:
                self.main_menu()
                self.error(f"{e.filename or 'a file'}: {e.strerror or e}")

        return run

    def applying(self, what: str, change: Callable[[], str], screen: Callable[[], None]) -> None:
        """Apply a form's change: the screen again with the outcome, or the form as typed with
        the reason (a refused value names its field)."""
        self.busy(f"Applying {what}...")
        try:
            text = change()
        except SettingsError as e:
            self.error(f"{field_label(e)}: {e}")
            return
        except (SensorError, OSError) as e:
            self.error(str(e))
            return
        screen()
        self.say(text)

    def buttons(self, *pairs: tuple[str, Callable[[], None]]) -> urwid.Widget:
        return ButtonRow([(len(label) + 4, button(label, action)) for label, action in pairs], dividechars=2)

    # -- Personalize -----------------------------------------------------------------
    def personalize(self) -> None:
        reg = self.console.registration()
        deployed = self.console.settings()
        hub_row, hub = field("Hub URL", reg.get("hub", "") or deployed.registration_hub)
        code_row, code = field("Code (14 digits)", "", mask="*")
        ca_row, ca = field("Hub certificate", "" if reg else deployed.registration_fingerprint)
        state = urwid.Text(f"Registered with {reg['hub']} as {reg['name']!r}." if reg else "Not registered yet.")
        deployed_code = urwid.Text(("label", "  (left empty: the code the deployment gave)"))

        def go() -> None:
            self.busy("Registering with the hub...")
            try:
                text = self.console.register(hub.edit_text, code.edit_text, ca.edit_text)
            except SensorError as e:
                self.error(f"Registration failed: {e}")
                return
            self.personalize()  # the new registration shown, the code's field and hint gone
            self.say(text)

        self.show(
            "Personalize this scanner",
            [
                state,
                urwid.Divider(),
                hub_row,
                code_row,
                *([deployed_code] if deployed.registration_code else []),
                ca_row,
                urwid.Text(("label", "  (optional, pinned: the hub's PEM file, or its SHA-256 fingerprint)")),
                urwid.Divider(),
                self.buttons(("Register", go), ("Back", self.main_menu)),
            ],
            self.main_menu,
        )

    # -- Network ---------------------------------------------------------------------
    def network(self) -> None:
        m = self.console.settings().management
        group: list[urwid.RadioButton] = []
        dhcp = urwid.RadioButton(group, "DHCP", m.mode == "dhcp")
        static = urwid.RadioButton(group, "Static address", m.mode == "static")
        rows = [
            field("IP address", m.address),
            field("Netmask", m.netmask),
            field("Gateway", m.gateway),
            field("DNS 1", m.dns[0] if m.dns else ""),
            field("DNS 2 (optional)", m.dns[1] if len(m.dns) > 1 else ""),
        ]
        live = ", ".join(self.console.system.addresses(m.interface)) or "none"
        if m.mode == "dhcp":
            now = f"Current: DHCP on {m.interface}; address now {live}"
        else:
            now = f"Current: static {m.address}/{m.netmask} gateway {m.gateway} on {m.interface}"

        def go() -> None:
            address, netmask, gateway, dns1, dns2 = (e.edit_text.strip() for _, e in rows)
            request: dict[str, Any] = {"mode": "dhcp"}
            if static.state:
                request = {
                    "mode": "static",
                    "address": address,
                    "netmask": netmask,
                    "gateway": gateway,
                    "dns": [d for d in (dns1, dns2) if d],
                }
            self.applying("the network settings", lambda: self.console.set_network(request), self.network)

        self.show(
            "Set up Network",
            [
                urwid.Text(now),
                urwid.Divider(),
                urwid.AttrMap(dhcp, None, focus_map="focus"),
                urwid.AttrMap(static, None, focus_map="focus"),
                urwid.Divider(),
                *(r for r, _ in rows),
                urwid.Divider(),
                self.buttons(("Apply", go), ("Back", self.main_menu)),
            ],
            self.main_menu,
        )

    # -- Proxy -----------------------------------------------------------------------
    def proxy(self) -> None:
        p = self.console.settings().proxy
        enabled = urwid.CheckBox("Use a proxy to reach the hub", p.enabled)
        address_row, address = field("Proxy address", p.address)
        port_row, port = field("Port", str(p.port) if p.port else "")
        group: list[urwid.RadioButton] = []
        auths = {
            "none": urwid.RadioButton(group, "NoAuth", p.auth == "none"),
            "basic": urwid.RadioButton(group, "BasicAuth", p.auth == "basic"),
            "ntlm": urwid.RadioButton(group, "NTLMAuth", p.auth == "ntlm"),
        }
        user_row, user = field("User", p.user)
        password_row, password = field("Password", "", mask="*")
        note = "  (leave empty to keep the current password)" if p.password else "  (typed characters show as *)"

        def go() -> None:
            auth = next(k for k, r in auths.items() if r.state)
            request: dict[str, Any] = {"enabled": False}
            if enabled.state:
                secret = password.edit_text or (p.password if auth != "none" else "")
                request = {
                    "enabled": True,
                    "address": address.edit_text.strip(),
                    "port": port.edit_text.strip(),
                    "auth": auth,
                    "user": user.edit_text.strip() if auth != "none" else "",
                    "password": secret if auth != "none" else "",
                }
            self.applying("the proxy settings", lambda: self.console.set_proxy(request), self.proxy)

        self.show(
            "Proxy Configuration",
            [
                urwid.AttrMap(enabled, None, focus_map="focus"),
                urwid.Divider(),
                address_row,
                port_row,
                urwid.Divider(),
                urwid.Columns([urwid.AttrMap(r, None, focus_map="focus") for r in auths.values()]),
                urwid.Divider(),
                user_row,
                password_row,
                urwid.Text(("label", note)),
                urwid.Divider(),
                self.buttons(("Apply", go), ("Back", self.main_menu)),
            ],
            self.main_menu,
        )

    # -- Sniffing --------------------------------------------------------------------
    def sniffing(self) -> None:
        rows: list[tuple[str, urwid.CheckBox, urwid.RadioButton, urwid.Edit, urwid.Edit]] = []
        widgets: list[urwid.Widget] = [
            urwid.Text("Tick the interfaces to sniff on; Right/Left reach an interface's mode."),
            urwid.Divider(),
        ]
        for choice in self.console.sniffing_choices():
            iface = choice.interface
            # Marked, not hidden: unticking it is how its settings go.
            check = urwid.CheckBox(iface.name + ("" if choice.found else " (not found)"), choice.chosen)
            group: list[urwid.RadioButton] = []
            default = urwid.RadioButton(group, "DEFAULT", iface.mode != "ERSPAN")
            erspan = urwid.RadioButton(group, "ERSPAN", iface.mode == "ERSPAN")
            address_row, address = field("  ERSPAN address", iface.address)
            netmask_row, netmask = field("  ERSPAN netmask", iface.netmask)
            rows.append((iface.name, check, erspan, address, netmask))
            widgets += [
                ButtonRow(
                    [
                        (30, urwid.AttrMap(check, None, focus_map="focus")),
                        (12, urwid.AttrMap(default, None, focus_map="focus")),
                        (12, urwid.AttrMap(erspan, None, focus_map="focus")),
                    ],
                    dividechars=1,
                ),
                address_row,
                netmask_row,
                urwid.Divider(),
            ]
        if not rows:
            widgets += [urwid.Text("No network interface found besides the management one."), urwid.Divider()]

        def go() -> None:
            request = [
                {
                    "name": name,
                    "mode": "ERSPAN",
                    "address": address.edit_text.strip(),
                    "netmask": netmask.edit_text.strip(),
                }
                if erspan.state
                else {"name": name, "mode": "DEFAULT"}
                for name, check, erspan, address, netmask in rows
                if check.state
            ]
            self.applying("the sniffing interfaces", lambda: self.console.set_sniffing(request), self.sniffing)

        widgets.append(self.buttons(("Apply", go), ("Back", self.main_menu)))
        self.show("Sniffing interfaces", widgets, self.main_menu)

    # -- Status ----------------------------------------------------------------------
    def status(self) -> None:
        reg = self.console.registration()
        s = self.console.settings()
        st = self.console.status()
        lines = [
            f"Registration:   {'registered as ' + repr(reg['name']) if reg else 'not registered'}",
            f"Hub:            {reg.get('hub') or '-'}",
            f"Management:     {s.management.interface} "
            + ("DHCP" if s.management.mode == "dhcp" else f"static {s.management.address}/{s.management.netmask}"),
            f"Addresses now:  {', '.join(self.console.system.addresses()) or 'none'}",
        ]
        if "error" in st:
            lines.append(f"Sensing:        not reachable: {st['error']}")
        else:
            tp = st.get("throughput", {})
            lines.append(f"Sensing:        {st.get('state')} ({st.get('workers')} capture workers)")
            lines.append(f"Throughput:     {tp.get('mbps', 0):.1f} Mbit/s, {tp.get('pps', 0):.0f} packets/s")
            lines.append(f"Assets:         {st.get('assets_last_hour', 0)} active in the last hour")
        widgets: list[urwid.Widget] = [urwid.Text(line) for line in lines]
        widgets += [urwid.Divider(), self.buttons(("Refresh", self.status), ("Back", self.main_menu))]
        self.show("Status", widgets, self.main_menu)

    # -- Update ----------------------------------------------------------------------
    def update(self) -> None:
        version, found = self.console.bundles()
        row, bundle = field("Bundle", found[0] if found else "")

        def go() -> None:
            self.busy("Installing; the services restart and are checked (minutes)...")
            try:
                changed, text = self.console.update(bundle.edit_text)
            except SensorError as e:
                self.error(str(e))
                return
            self.say(text)
            if changed:  # the console too runs the new version: it starts again (Restart=always)
                self.loop.draw_screen()
                raise urwid.ExitMainLoop

        self.show(
            "Update the sensor",
            [
                urwid.Text(f"Running: nps-sensor {version}. A signed bundle (inv image.bundle) is installed beside it"
                           " and rolled back by itself if the sensor does not work with it."),
                urwid.Divider(),
                row,
                urwid.Text(("label", "  (copied to /var/lib/nps-sensor/updates: the newest is offered)")),
                urwid.Divider(),
                self.buttons(("Install", go), ("Back", self.main_menu)),
            ],
            self.main_menu,
        )  # fmt: skip

    # -- Power -----------------------------------------------------------------------
    def confirm(self, question: str, action: str) -> None:
        def yes() -> None:
            system = self.console.system
            done = system.reboot() if action == "reboot" else system.poweroff()
            if done:
                self.say(f"{action} requested.")
            else:
                self.error(f"{action}: not done (a test root without a system command, or systemctl failed)")

        self.show(
            question.split(" ", maxsplit=1)[0],
            [urwid.Text(question), urwid.Divider(), self.buttons(("No", self.main_menu), ("Yes", yes))],
            self.main_menu,
        )

    # -- Root shell ------------------------------------------------------------------
    def root_shell(self) -> None:
        row, password = field("Root password", "", mask="*")

        def go() -> None:
            self.busy("Checking the password...")
            ok = self.console.system.authenticate("root", password.edit_text)
            password.set_edit_text("")
            if not ok:
                self.error("Wrong password (or root has none: a locked account opens no shell).")
                return
            self.loop.stop()
            # A clean screen for the shell (a serial line keeps what the menu drew), and the way back.
            print("\x1b[H\x1b[2JRoot shell. Type exit to return to the console.", flush=True)
            try:
                self.console.system.shell()
            finally:
                self.loop.start()
                self.main_menu()

        self.show(
            "Root shell",
            [
                urwid.Text("The root password opens a shell; leave it to come back."),
                urwid.Divider(),
                row,
                urwid.Divider(),
                self.buttons(("Open", go), ("Back", self.main_menu)),
            ],
            self.main_menu,
        )
