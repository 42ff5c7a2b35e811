"""`inv hub.*`: the management hub (`nps-hub`)."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from .settings import BIN, PY, ROOT, run


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
        "workers": "serving processes (default 1; more need PostgreSQL)",
        "flows_keep_days": "days a report's traffic records are kept after it arrived, 0 for ever (default 30)",
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
    workers: int = 1,
    flows_keep_days: str = "",
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
    if workers != 1:
        args += ["--workers", str(workers)]
    if flows_keep_days:
        args += ["--flows-keep-days", flows_keep_days]
    run(args)


@task(
    auto_shortflags=False,
    name="wheels",
    help={"output": "the folder to fill (default build/hub-wheels); the hub role's hub_wheels"},
)
def hub_wheels(c: Context, output: str = str(ROOT / "build" / "hub-wheels")) -> None:
    """The wheels of nps-hub, nps-sensor and their dependencies, for the hub role (an offline install)."""
    import shutil
    import tempfile

    # From copies: setuptools builds in the tree it is given, and the checkout stays clean.
    debris = shutil.ignore_patterns("*.egg-info", "__pycache__", "build", "dist")
    with tempfile.TemporaryDirectory() as tmp:
        sources = [shutil.copytree(ROOT / name, Path(tmp) / name, ignore=debris) for name in ("sensor", "hub")]
        run([str(PY), "-m", "pip", "wheel", "--quiet", "--wheel-dir", output, *map(str, sources)])
    print(f"hub.wheels: {output} (give it to the hub role as hub_wheels)")


hub = Collection("hub", hub_serve, hub_wheels)
