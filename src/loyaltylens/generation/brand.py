"""Brand image scoring with open_clip: how well an offer image matches the brand guideline prompts.

The score of an image is the probability CLIP puts on the brand guideline prompts when it has to choose
between them and the off-brand prompts (softmax over image-text similarities times CLIP's logit scale),
so it lies in [0, 1] and ranks images. Production uses ViT-B/32 weights from a local file
(``settings.clip_weights_path``: nothing is downloaded); any ``open_clip`` model with its preprocessing and
tokenizer works, which is how tests run the same path on a tiny randomly initialised model.

Offer images are drawn locally with PIL (:func:`render_offer_image`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.generation.offer_copy import OfferCopy

CLIP_ARCHITECTURE = "ViT-B-32"


@dataclass(frozen=True)
class BrandGuidelines:
    """The brand's colours and the prompts that describe on- and off-brand imagery."""

    colours: tuple[tuple[int, int, int], ...] = ((0, 122, 94), (255, 204, 0))  # deep green, warm yellow
    on_brand: tuple[str, ...] = (
        "a clean promotional banner in deep green and warm yellow",
        "a supermarket offer card with bold green and yellow colours",
    )
    off_brand: tuple[str, ...] = ("random colourful noise", "a blurry photo with clashing colours")


class BrandImageScorer:
    """Scores images against :class:`BrandGuidelines` with one CLIP model.

    Args:
        model: an ``open_clip`` CLIP model (``encode_image``, ``encode_text``, ``logit_scale``).
        preprocess: PIL image → ``[3, H, W]`` tensor, as ``open_clip`` returns it for the model.
        tokenizer: texts → ``[N, context_length]`` token tensor.
    """

    def __init__(
        self, model, preprocess: Callable, tokenizer: Callable, guidelines: BrandGuidelines = BrandGuidelines()
    ):
        import torch

        self.model = model.eval()
        self.preprocess = preprocess
        self.guidelines = guidelines
        prompts = [*guidelines.on_brand, *guidelines.off_brand]
        with torch.inference_mode():
            text = model.encode_text(tokenizer(prompts))
        self._text = text / text.norm(dim=-1, keepdim=True)  # [P, D]
        self._n_on_brand = len(guidelines.on_brand)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, guidelines: BrandGuidelines = BrandGuidelines()
    ) -> BrandImageScorer:
        """ViT-B/32 from ``settings.clip_weights_path``; ``NotFoundError`` when it is not configured."""
        import open_clip

        settings = settings or get_settings()
        path = settings.clip_weights_path
        if path is None or not Path(path).is_file():
            raise NotFoundError(
                "brand scoring needs local ViT-B/32 weights: set LOYALTYLENS_CLIP_WEIGHTS_PATH to an open_clip "
                f"checkpoint file (got {path})"
            )
        model, _, preprocess = open_clip.create_model_and_transforms(CLIP_ARCHITECTURE, pretrained=str(path))
        return cls(model, preprocess, open_clip.get_tokenizer(CLIP_ARCHITECTURE), guidelines)

    def score(self, images: Sequence[Image.Image]) -> np.ndarray:
        """On-brand probability per image, ``[N]`` in [0, 1]."""
        import torch

        if not images:
            raise InvalidInputError("no images to score")
        batch = torch.stack([self.preprocess(image.convert("RGB")) for image in images])  # [N, 3, H, W]
        with torch.inference_mode():
            features = self.model.encode_image(batch)
            features = features / features.norm(dim=-1, keepdim=True)  # [N, D]
            logits = self.model.logit_scale.exp() * features @ self._text.T  # [N, P]
            return logits.softmax(dim=-1)[:, : self._n_on_brand].sum(dim=-1).numpy()


def render_offer_image(
    copy: OfferCopy, guidelines: BrandGuidelines = BrandGuidelines(), size: int = 224
) -> Image.Image:
    """An offer card in the brand colours: background in the first colour, a band in the second, the headline."""
    background, accent = guidelines.colours[0], guidelines.colours[1 % len(guidelines.colours)]
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, size * 2 // 3, size, size), fill=accent)
    draw.text((size // 16, size // 8), copy.headline, fill=(255, 255, 255))
    draw.text((size // 16, size * 3 // 4), copy.cta, fill=background)
    return image
