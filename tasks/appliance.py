"""`inv appliance.*`: a deployed appliance, reached over SSH as its management user."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task


@task(
    name="check",
    auto_shortflags=False,
    help={
        "host": "the appliance's management address or name",
        "port": "its SSH port (default 22)",
        "key": "the private key whose public half the deployment gave (OVF property ssh.authorized_key); "
        "default: the SSH agent and ~/.ssh keys",
        "user": "the management user (default nps-admin)",
        "known_hosts": "the kit's known-hosts file: the appliance's host key is recorded there on first use and "
        "checked afterwards (default $NPS_KNOWN_HOSTS or ~/.config/nps-kit/known_hosts)",
        "wait": "seconds to keep asking until the appliance is sensing (a fresh deployment; default 0: ask once)",
        "packets": "also wait until its sniffing interfaces have received this many packets (test traffic sent)",
        "json": "print the appliance's status as JSON",
    },
)
def check(
    c: Context,
    host: str,
    port: int = 22,
    key: str = "",
    user: str = "nps-admin",
    known_hosts: str = "",
    wait: int = 0,
    packets: int = 0,
    json: bool = False,
) -> None:
    """Is the appliance sensing? Its state, each sniffing interface (up, promiscuous, offloads off,
    packets, drops), the registration and the version, over SSH; exit 1 when it is not sensing."""
    from nps_image.ssh import Remote, SSHError
    from nps_image.verify import check as verify

    remote = Remote(host, port, Path(key) if key else None, user, Path(known_hosts) if known_hosts else None)
    try:
        with remote:
            verdict = verify(remote, wait=wait, packets=packets)
    except SSHError as e:
        raise Exit(f"appliance.check: {e}", code=2) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
    if json:
        import json as json_

        print(json_.dumps(verdict.status, indent=1))
    else:
        print(f"appliance {remote.where}: {'sensing' if verdict.ok else 'NOT sensing'}")
        for line in verdict.lines():
            print("  " + line)
    if not verdict.ok:
        raise Exit(code=1)


appliance = Collection("appliance", check)


def wait_sensing(
    address: str | Callable[[], str | None], key: str = "", timeout: float = 900, known_hosts: str = ""
) -> None:
    """After a deployment: wait for the appliance's address (a callable asks the hypervisor
    again until it knows one), then until it is sensing; print the verdict, Exit 1 if not."""
    from nps_image.ssh import Remote, SSHError
    from nps_image.verify import check as verify

    deadline = time.monotonic() + timeout
    where = address() if callable(address) else address
    while not where:
        if time.monotonic() > deadline:
            raise Exit("--wait-sensing: the appliance reported no management address (VMware Tools)", code=1)
        time.sleep(10)
        where = address() if callable(address) else address
    print(f"waiting for {where} to sense (SSH as nps-admin) ...", flush=True)
    remote = Remote(where, 22, Path(key) if key else None, known_hosts=Path(known_hosts) if known_hosts else None)
    try:
        with remote:
            verdict = verify(remote, wait=max(0.0, deadline - time.monotonic()))
    except SSHError as e:
        raise Exit(f"--wait-sensing: {e}", code=1) from None
    print(f"appliance {remote.where}: {'sensing' if verdict.ok else 'NOT sensing'}")
    for line in verdict.lines():
        print("  " + line)
    if not verdict.ok:
        raise Exit(code=1)
