"""CLIP brand scoring through the real open_clip code path, on a tiny model with fixed weights.

A randomly initialised CLIP knows nothing about colours, so the fixture first fits the tiny model for a few
seconds on synthetic pairs (brand-coloured cards with the on-brand prompts, noise with the off-brand ones),
saves it as an open_clip checkpoint file, and the scorer is built from that file like ViT-B/32 would be.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from loyaltylens.config import Settings
from loyaltylens.errors import NotFoundError
from loyaltylens.generation.brand import BrandGuidelines, BrandImageScorer, render_offer_image
from loyaltylens.generation.offer_copy import OfferCopy

IMAGE_SIZE = 32
GUIDELINES = BrandGuidelines()


def noise_image(rng: np.random.Generator, size: int = 224) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def brand_image(rng: np.random.Generator) -> Image.Image:
    words = ["Fresh deal", "20% off dairy", "Weekly savings", "Bakery treat"]
    copy = OfferCopy(headline=words[rng.integers(len(words))], body="A body long enough.", cta="Shop now", tone="warm")
    return render_offer_image(copy, GUIDELINES)


@pytest.fixture(scope="module")
def tiny_clip():
    import open_clip
    import torch
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: a second thread only adds contention
    model = CLIP(
        embed_dim=16,
        vision_cfg=CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=IMAGE_SIZE),
        text_cfg=CLIPTextCfg(context_length=16, vocab_size=49408, width=32, heads=2, layers=1),
    )
    preprocess = open_clip.image_transform(IMAGE_SIZE, is_train=False)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=16)
    rng = np.random.default_rng(0)
    prompts = tokenizer([*GUIDELINES.on_brand, *GUIDELINES.off_brand])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    images = [brand_image(rng) for _ in range(8)] + [noise_image(rng) for _ in range(8)]
    batch = torch.stack([preprocess(image) for image in images])
    for _ in range(25):  # contrastive steps: images vs the prompt set (label = on-brand prompt or off-brand)
        image_features = torch.nn.functional.normalize(model.encode_image(batch), dim=-1)
        text_features = torch.nn.functional.normalize(model.encode_text(prompts), dim=-1)
        logits = model.logit_scale.exp() * image_features @ text_features.T
        on_brand = logits[:, : len(GUIDELINES.on_brand)].logsumexp(-1)
        off_brand = logits[:, len(GUIDELINES.on_brand) :].logsumexp(-1)
        target = torch.tensor([0] * 8 + [1] * 8)
        loss = torch.nn.functional.cross_entropy(torch.stack([on_brand, off_brand], dim=1), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.set_num_threads(threads)
    return model.eval(), preprocess, tokenizer


def test_brand_coloured_image_ranks_above_noise(tiny_clip):
    model, preprocess, tokenizer = tiny_clip
    scorer = BrandImageScorer(model, preprocess, tokenizer, GUIDELINES)
    rng = np.random.default_rng(123)  # images the model was not fitted on
    offer = OfferCopy(headline="15% off frozen food", body="Stock up for less.", cta="Activate in the app", tone="warm")
    scores = scorer.score([render_offer_image(offer, GUIDELINES), noise_image(rng), noise_image(rng)])
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    assert scores[0] > scores[1] and scores[0] > scores[2]


def test_scorer_loads_weights_from_a_local_file_only(tmp_path):
    with pytest.raises(NotFoundError, match="LOYALTYLENS_CLIP_WEIGHTS_PATH"):
        BrandImageScorer.from_settings(Settings(data_dir=tmp_path))
    with pytest.raises(NotFoundError, match="LOYALTYLENS_CLIP_WEIGHTS_PATH"):
        BrandImageScorer.from_settings(Settings(data_dir=tmp_path, clip_weights_path=tmp_path / "missing.pt"))


def test_no_images_is_invalid(tiny_clip):
    from loyaltylens.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        BrandImageScorer(*tiny_clip, GUIDELINES).score([])


@pytest.mark.skipif(
    not os.environ.get("LOYALTYLENS_CLIP_WEIGHTS_PATH"),
    reason="LOYALTYLENS_CLIP_WEIGHTS_PATH not set (local open_clip ViT-B/32 checkpoint file)",
)
def test_vit_b32_from_the_configured_file_ranks_brand_above_noise():
    scorer = BrandImageScorer.from_settings(Settings())
    offer = OfferCopy(headline="15% off frozen food", body="Stock up for less.", cta="Activate in the app", tone="warm")
    scores = scorer.score([render_offer_image(offer, GUIDELINES), noise_image(np.random.default_rng(1))])
    assert scores[0] > scores[1]
