"""`inv hub.*`: the management hub (`nps-hub`)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from .settings import BIN, ROOT, run


@task(
    auto_shortflags=False,
    name="serve",
    iterable=["name"],
    help={
        "data": "data directory: the SQLite database, the secret key, its own certificate (default build/hub)",
        "database": "a database URL instead of SQLite (postgresql://USER@HOST/DB; the password in ~/.pgpass)",
        "host": "address to listen on (default 127.0.0.1)",
        "port": "port (default 8480)",
        "tls_cert": "certificate chain (PEM) to serve HTTPS, as sensors expect",
        "tls_key": "its private key (PEM)",
        "self_signed": "HTTPS with a certificate of the hub's own, made once in the data directory; its SHA-256 is "
        "printed for the sensors to pin",
        "name": "with --self-signed: a name or address the sensors use for the hub (repeatable)",
    },
)
def hub_serve(
    c: Context,
    data: str = str(ROOT / "build" / "hub"),
    database: str = "",
    host: str = "127.0.0.1",
    port: int = 8480,
    tls_cert: str = "",
    tls_key: str = "",
    self_signed: bool = False,
    name: list[str] | None = None,
) -> None:
    """Serve the management hub (`nps-hub serve`, the same options); the first user: `nps-hub user NAME --admin`."""
    args = [str(BIN / "nps-hub"), "serve", "--data", data, "--host", host, "--port", str(port)]
    if database:
        args += ["--database", database]
    if tls_cert or tls_key:
        args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
    if self_signed:
        args.append("--self-signed")
    for n in name or []:
        args += ["--name", n]
    run(args)


hub = Collection("hub", hub_serve)
