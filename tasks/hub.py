"""`inv hub.*`: the management hub (`nps-hub`)."""

from __future__ import annotations

import shlex
import sys

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from .settings import BIN, ROOT


@task(
    auto_shortflags=False,
    name="serve",
    help={
        "data": "data directory: the SQLite database and the secret key (default build/hub)",
        "host": "address to listen on (default 127.0.0.1)",
        "port": "port (default 8480)",
        "database": "a database URL instead of SQLite (postgresql://USER@HOST/DB)",
        "tls_cert": "certificate chain (PEM) to serve HTTPS, as sensors expect",
        "tls_key": "its private key (PEM)",
    },
)
def hub_serve(
    c: Context,
    data: str = str(ROOT / "build" / "hub"),
    host: str = "127.0.0.1",
    port: int = 8480,
    database: str = "",
    tls_cert: str = "",
    tls_key: str = "",
) -> None:
    """Serve the management hub (`nps-hub serve`); the first user: `nps-hub --data DIR user NAME --admin`."""
    args = [str(BIN / "nps-hub"), "--data", data]
    if database:
        args += ["--database", database]
    args += ["serve", "--host", host, "--port", str(port)]
    if tls_cert or tls_key:
        args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
    c.run(shlex.join(args), pty=sys.stdout.isatty())


hub = Collection("hub", hub_serve)
