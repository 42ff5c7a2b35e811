"""Tasks of the kit: `inv --list` shows them, `inv --help TASK` explains one.

These are the doors users and CI go through; each task is a thin layer over a
library function (the sensor's CLI, image/, hypervisors/), so that the same work
can be scripted without Invoke. One module per collection; what they share (paths,
option sets such as a hypervisor connection) is in `settings`.
"""

from __future__ import annotations

from invoke.collection import Collection

from .appliance import appliance
from .bench import bench
from .collection import collection
from .configure import configure_appliances
from .demo import demo
from .deploy import deploy
from .hub import hub
from .image import image
from .quality import lint, test
from .release import release
from .sensor import sensor

ns = Collection(
    demo, sensor, image, deploy, configure_appliances, appliance, collection, hub, test, lint, bench, release
)
# No task reads its commands' input: without a stdin thread, a run that ends while
# stdin is closed (CI) does not fail after the command succeeded.
ns.configure({"run": {"in_stream": False}})
