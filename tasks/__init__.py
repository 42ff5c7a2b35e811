"""Tasks of the kit: `inv --list` shows them, `inv --help TASK` explains one.

These are the doors users and CI go through; each task is a thin layer over a
library function (the sensor's CLI, image/, hypervisors/), so that the same work
can be scripted without Invoke. One module per collection; what they share (paths,
option sets such as a hypervisor connection) is in `settings`.
"""

from __future__ import annotations

from invoke.collection import Collection

from .bench import bench
from .configure import configure_appliances
from .deploy import deploy
from .hub import hub
from .image import image
from .quality import lint, test
from .release import release
from .sensor import sensor

ns = Collection(sensor, image, deploy, configure_appliances, hub, test, lint, bench, release)
# No task reads its commands' input: without a stdin thread, a run that ends while
# stdin is closed (CI) does not fail after the command succeeded.
ns.configure({"run": {"in_stream": False}})
