"""Reports: what the sensor tells of a network, window by window.

Four modules, each with one job and a docstring stating its contract:

* `clock`: when windows start and end (new-assets and update windows on a grid);
* `traffic`: a harvest's hosts and flows into asset counters and traffic records;
* `identity`: which device each address belongs to, and each device's report entry;
* `model`: the assets, records, harvests and reports those modules pass around.

`reporter.Reporter` conducts them: it takes harvests in, and emits a `Report` when
the clock closes a window.
"""

from __future__ import annotations

from nps_sensor.report.model import NEW_ASSETS, PROTO_NAMES, UPDATE, Asset, Harvest, Record, Report, iso, proto_name
from nps_sensor.report.reporter import Reporter

__all__ = [
    "NEW_ASSETS",
    "PROTO_NAMES",
    "UPDATE",
    "Asset",
    "Harvest",
    "Record",
    "Report",
    "Reporter",
    "iso",
    "proto_name",
]
