"""`inv release`: what a CI pipeline does to publish a release (docs/ci.md), run here.

The image tasks in order, each stopping the release at its first failure: build and
sign (`image.build`), boot both disks and check them (`image.test`), the signed update
bundle (`image.bundle`), then verify the folder as an operator will (`image.verify`).
"""

from __future__ import annotations

from collections.abc import Callable

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from .image import SIGNING_HELP, image_build, image_bundle, image_test, image_verify


@task(
    auto_shortflags=False,
    help={
        "version": "the release's version, PEP 440 (1.4.0, 1.4.1rc1): the files', the sensor's and the bundle's",
        "output": "the release folder (default dist/): publish what SHA256SUMS lists, and SHA256SUMS .sig and .pem",
        "cache": "build cache (default build/cache): keep the Debian base between runs",
        **SIGNING_HELP,
        "ca": "the CA the release must verify against (default: the system's authorities)",
        "boot": "boot both disks in QEMU and check them before bundling (default; --no-boot skips it)",
    },
)
def release(
    c: Context,
    version: str,
    output: str = "dist",
    cache: str = "build/cache",
    sign_key: str = "",
    sign_cert: str = "",
    ca: str = "",
    boot: bool = True,
) -> None:
    """Build, test, sign, bundle and verify a release: the folder CI publishes."""
    from nps_image import signing
    from nps_image.build import sensor_version
    from nps_image.steps import BuildError

    if sensor_version(version) is None:
        raise Exit(f"release: version {version!r} is not a PEP 440 version (1.4.0, 1.4.1rc1)", code=2)
    try:
        if signing.from_options(sign_key, sign_cert) is None:
            raise Exit("release: a release is signed: give --sign-key and --sign-cert (or NPS_SIGN_KEY/_CERT)", code=2)
    except BuildError as e:
        raise Exit(f"release: {e}", code=2) from None
    steps: list[tuple[str, Callable[[], object]]] = [
        ("build and sign", lambda: image_build(c, version, output, cache, "", sign_key, sign_cert)),
        ("boot and check", lambda: image_test(c, "both", output) if boot else None),
        ("update bundle", lambda: image_bundle(c, version, output, cache, sign_key, sign_cert)),
        ("verify", lambda: image_verify(c, output, ca)),
    ]
    for number, (name, step) in enumerate(steps, 1):
        print(f"release {version}: step {number}/{len(steps)}: {name}", flush=True)
        step()
    print(f"release {version}: ready in {output}/: publish SHA256SUMS, its .sig and .pem, and what it lists")
