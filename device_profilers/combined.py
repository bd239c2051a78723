"""Several meters that measure disjoint parts of one machine (a GPU and the CPU package), summed."""

from __future__ import annotations

from device_profilers.base import PowerMeter


class CombinedMeter(PowerMeter):
    """Sum of parts: `measured:nvml+rapl`. Zones are prefixed with the part's name."""

    def __init__(self, parts: list[PowerMeter]):
        if len(parts) < 2:
            raise ValueError("a combined meter needs at least two parts")
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        kinds = [p.source.split(":", 1)[1] for p in parts]
        self.source = "measured:" + "+".join(kinds)
        self.sampling_period_s = max(p.sampling_period_s for p in parts)

    def energy_j(self) -> float:
        return sum(p.energy_j() for p in self.parts)

    def zones_energy_j(self) -> dict[str, float]:
        zones = {}
        for part in self.parts:
            zones[part.name] = part.energy_j()
            zones.update({f"{part.name}/{z}": j for z, j in part.zones_energy_j().items()})
        return zones

    def power_w(self) -> float:
        return sum(p.power_w() for p in self.parts)

    def metadata(self) -> dict[str, str]:
        return {f"{p.name}.{k}": v for p in self.parts for k, v in p.metadata().items()}

    def close(self) -> None:
        for part in self.parts:
            part.close()
        super().close()

    def start(self) -> CombinedMeter:
        for part in self.parts:
            part.start()
        return self
