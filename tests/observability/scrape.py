"""Reading a Prometheus exposition in tests, with prometheus-client's own parser."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Exposition:
    """The samples of one scrape."""

    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        return cls(
            tuple(
                sample
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            )
        )

    def matching(self, name: str, **labels: str) -> list[Sample]:
        """Samples named ``name`` whose labels include ``labels``."""
        return [
            sample
            for sample in self.samples
            if sample.name == name
            and all(sample.labels.get(key) == value for key, value in labels.items())
        ]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0 when there are none)."""
        return sum(sample.value for sample in self.matching(name, **labels))

    def label_values(self, name: str, label: str) -> set[str]:
        return {sample.labels[label] for sample in self.matching(name)}

    def requests(self) -> dict[tuple[str, str, str], float]:
        """``http_requests_total`` by (method, route, status)."""
        counts: dict[tuple[str, str, str], float] = {}
        for sample in self.matching("http_requests_total"):
            key = (sample.labels["method"], sample.labels["route"], sample.labels["status"])
            counts[key] = counts.get(key, 0) + sample.value
        return counts


async def scrape(client: httpx.AsyncClient, path: str = "/metrics") -> Exposition:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return Exposition.parse(response.text)
