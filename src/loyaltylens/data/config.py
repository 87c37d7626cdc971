"""What to simulate: the generator's configuration, in its own module so every simulator module can import it
without importing the generator (which imports them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from loyaltylens.errors import InvalidInputError


@dataclass(frozen=True)
class GeneratorConfig:
    """What to simulate. The defaults give the reference dataset ``seed42-c50000-d365``."""

    n_customers: int = 50_000
    n_days: int = 365
    start_date: str = "2025-11-01"  # first simulated day (ISO date)
    seed: int = 42
    n_offers: int = 200
    campaign_every_days: int = 14
    target_share: float = 0.30  # share of members each campaign targets
    holdout_share: float = 0.10  # share of targeted customers held out (not sent) as control
    label_window_days: int = 14  # a redemption happens within this many days of the send
    pair_truth_campaigns: int = 6  # last campaigns whose every (customer, eligible offer) pair gets its truth

    def __post_init__(self) -> None:
        try:
            date.fromisoformat(self.start_date)
        except ValueError:
            raise InvalidInputError(f"start_date must be an ISO date, got '{self.start_date}'") from None
        for name in ("n_customers", "n_offers", "campaign_every_days", "label_window_days"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.pair_truth_campaigns < 0:
            raise InvalidInputError(f"pair_truth_campaigns must be >= 0, got {self.pair_truth_campaigns}")
        for name in ("target_share", "holdout_share"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise InvalidInputError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        shortest = self.campaign_every_days + self.label_window_days
        if self.n_days < shortest:
            raise InvalidInputError(
                f"n_days={self.n_days} leaves no room for a campaign and its label window (need >= {shortest})"
            )

    @property
    def start(self) -> date:
        return date.fromisoformat(self.start_date)

    @property
    def end(self) -> date:
        """The day after the last simulated day (the natural as-of of features built on the whole dataset)."""
        return self.start + timedelta(days=self.n_days)
