"""Generation fixtures: one small trained copy model per session, offers from the synthetic catalogue, and the
generator served by a real ``python -m serving.generator`` process on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyaltylens.generation.corpus import synthetic_offers
from loyaltylens.generation.prompts import load_prompt
from loyaltylens.generation.training import TEST_CONFIG, train_generator
from loyaltylens.retrieval.base import OfferHit
from serving.generator.process import GeneratorServer, generator_process

REPO = Path(__file__).resolve().parents[2]
PROMPTS = REPO / "prompts"
SERVED_NAME = "generator"


@pytest.fixture(scope="session")
def prompt():
    return load_prompt(PROMPTS, "offer_copy")


@pytest.fixture(scope="session")
def catalogue():
    return synthetic_offers(30, seed=3)


@pytest.fixture(scope="session")
def offers(catalogue) -> list[OfferHit]:
    return [
        OfferHit(
            offer_id=int(row.offer_id),
            score=1.0,
            title=row.title,
            category=row.category,
            discount_pct=float(row.discount_pct),
            channel=row.channel,
            text=row.text,
            min_spend=float(row.min_spend),
        )
        for row in catalogue.itertuples(index=False)
    ]


@pytest.fixture(scope="session")
def model_dir(catalogue, prompt, tmp_path_factory) -> Path:
    """The local model at test size (about 15 s on two cores)."""
    out = tmp_path_factory.mktemp("generator") / "model"
    train_generator(catalogue, prompt, out, TEST_CONFIG)
    return out


@pytest.fixture(scope="session")
def generator_server(model_dir, tmp_path_factory) -> GeneratorServer:
    """The KServe generator serving ``model_dir`` (REST and gRPC)."""
    server = generator_process(model_dir, tmp_path_factory.mktemp("generator-logs") / "server.log", SERVED_NAME)
    with server.process:
        yield server


@pytest.fixture(scope="session")
def generator_url(generator_server) -> str:
    return generator_server.http_url
