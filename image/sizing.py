"""The throughput chart: how many vCPUs and how much memory a sensor needs for a rate.

One table for every door that sizes an appliance: the OVF's deployment options
(templates/ovf.xml.j2), the ESXi deployer and the Hyper-V deployer. The figures are
the product's published chart; a rate between two rows takes the larger row, so a
sensor is never sized below its traffic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """One row of the chart: the sustained mirror-port rate a size is good for."""

    mbps: int
    vcpus: int
    memory_gib: int

    @property
    def id(self) -> str:
        """The OVF configuration id (`ovf:configuration`), stable across releases."""
        return f"{self.mbps}mbps"

    @property
    def memory_mib(self) -> int:
        """Memory in MiB, the unit of the OVF memory item and of the hypervisors' APIs."""
        return self.memory_gib * 1024

    @property
    def label(self) -> str:
        return f"{self.mbps} Mbit/s: {self.vcpus} vCPU, {self.memory_gib} GB RAM"


PROFILES: tuple[Profile, ...] = (
    Profile(500, 4, 8),
    Profile(750, 6, 12),
    Profile(1000, 8, 16),
    Profile(1250, 10, 18),
    Profile(1500, 12, 20),
    Profile(1750, 14, 22),
    Profile(2000, 16, 24),
)
DEFAULT_MBPS = 1000
DEFAULT: Profile = next(p for p in PROFILES if p.mbps == DEFAULT_MBPS)


def profile_for(mbps: int) -> Profile:
    """The smallest profile that carries `mbps`; ValueError beyond the chart."""
    if mbps <= 0:
        raise ValueError(f"throughput {mbps} Mbit/s: give a positive rate")
    for profile in PROFILES:
        if mbps <= profile.mbps:
            return profile
    top = PROFILES[-1]
    raise ValueError(f"throughput {mbps} Mbit/s: the chart ends at {top.mbps} Mbit/s; deploy more sensors")
