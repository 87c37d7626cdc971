"""Instance sizes for the cloud targets: the smallest listed type that fits a spec's per-replica resources.

The hourly prices are approximate on-demand list prices (USD, us-east-1 / us-central1, late 2025) for the
README's cost table; they change, so check the providers' pricing pages before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyaltylens.deploy.spec import InvalidSpecError, Resources


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: float
    memory_gib: float
    gpu: int
    approx_usd_per_hour: float
    accelerator: str | None = None  # Vertex attaches GPUs to a machine type as an accelerator

    def fits(self, resources: Resources) -> bool:
        return self.vcpu >= resources.cpu and self.memory_gib >= resources.memory_gib and self.gpu >= resources.gpu


# SageMaker real-time inference instances (price includes the instance; storage and traffic are extra).
SAGEMAKER_INSTANCES = (
    InstanceType("ml.m5.large", 2, 8, 0, 0.115),
    InstanceType("ml.m5.xlarge", 4, 16, 0, 0.23),
    InstanceType("ml.m5.2xlarge", 8, 32, 0, 0.461),
    InstanceType("ml.g4dn.xlarge", 4, 16, 1, 0.736),
)

# Vertex AI online prediction nodes (custom-trained models); the T4 price is added to its machine's.
VERTEX_MACHINES = (
    InstanceType("n1-standard-2", 2, 7.5, 0, 0.11),
    InstanceType("n1-standard-4", 4, 15, 0, 0.22),
    InstanceType("n1-standard-8", 8, 30, 0, 0.44),
    InstanceType("n1-standard-4", 4, 15, 1, 0.22 + 0.40, accelerator="NVIDIA_TESLA_T4"),
)


def choose(catalog: tuple[InstanceType, ...], resources: Resources, explicit: str | None, where: str) -> InstanceType:
    """The explicitly named type if there is one, else the cheapest listed type that fits ``resources``."""
    return named(catalog, explicit, resources) if explicit else smallest_fitting(catalog, resources, where)


def smallest_fitting(catalog: tuple[InstanceType, ...], resources: Resources, where: str) -> InstanceType:
    """The cheapest entry of ``catalog`` with at least ``resources``; a spec asking for more is an error."""
    fitting = [t for t in catalog if t.fits(resources)]
    if not fitting:
        raise InvalidSpecError(
            f"no {where} instance type in the list fits {resources.cpu:g} vCPU, {resources.memory_gib:g} GiB, "
            f"{resources.gpu} GPU; set the instance type explicitly"
        )
    return min(fitting, key=lambda t: t.approx_usd_per_hour)


def named(catalog: tuple[InstanceType, ...], name: str, resources: Resources) -> InstanceType:
    """An explicitly chosen type; one outside the list is taken as given (unknown size and price)."""
    for entry in catalog:
        if entry.name == name and entry.gpu >= resources.gpu:
            return entry
    return InstanceType(name, resources.cpu, resources.memory_gib, resources.gpu, float("nan"))
