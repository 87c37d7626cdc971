"""Versioned prompt files (``prompts/*.yaml``): load one, check its variables, render it, read it back.

A prompt declares the variables its templates use; the copy pipeline supplies exactly
:data:`PIPELINE_VARIABLES` (see :func:`offer_variables`). Rendering keeps data and instructions apart:
values only ever fill the user template, and are stripped of the delimiters the template uses.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.retrieval.base import OfferHit

# What run_for_customer and the generators can fill in for one offer and one customer.
PIPELINE_VARIABLES = frozenset(
    {"segment", "channel", "offer_title", "offer_text", "category", "discount_pct", "min_spend"}
)
_SEMVER = re.compile(r"\d+\.\d+\.\d+")


class PromptSpec(BaseModel):
    """One prompt version: templates, their variables, model parameters and its eval criteria."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    description: str = ""
    variables: list[str]
    system: str
    user: str
    parameters: dict = {}
    template: dict = {}
    eval: dict = {}

    @field_validator("version")
    @classmethod
    def _semantic_version(cls, version: str) -> str:
        if not _SEMVER.fullmatch(version):
            raise ValueError(f"version '{version}' is not a semantic version (MAJOR.MINOR.PATCH)")
        return version

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def semver(self) -> tuple[int, int, int]:
        major, minor, patch = (int(part) for part in self.version.split("."))
        return major, minor, patch

    def check_variables(self, values: dict) -> None:
        """Refuse values that don't match the declared variables (missing or extra)."""
        missing = sorted(set(self.variables) - set(values))
        extra = sorted(set(values) - set(self.variables))
        if missing or extra:
            raise InvalidInputError(
                f"prompt {self.name}@{self.version}: missing variables {missing}, unexpected {extra}"
            )

    def template_fields(self) -> set[str]:
        """Every ``{field}`` the user template references (the system template is literal text)."""
        return {field for _, field, _, _ in string.Formatter().parse(self.user) if field is not None}

    def check_pipeline_fit(self) -> None:
        """Refuse a prompt the copy pipeline cannot fill: its declared variables must be exactly
        :data:`PIPELINE_VARIABLES` and its templates may use only declared variables."""
        problems = []
        if set(self.variables) != PIPELINE_VARIABLES:
            problems.append(f"declares {sorted(self.variables)} but the pipeline supplies {sorted(PIPELINE_VARIABLES)}")
        undeclared = sorted(self.template_fields() - set(self.variables))
        if undeclared:
            problems.append(f"templates use undeclared variables {undeclared}")
        if problems:
            raise InvalidInputError(f"prompt {self.ref}: " + "; ".join(problems))

    def render(self, values: dict[str, str]) -> list[dict[str, str]]:
        """Chat messages (system, user) for ``values``; the system template takes no data."""
        self.check_variables(values)
        cleaned = {key: _as_data(str(value)) for key, value in values.items()}
        return [
            {"role": "system", "content": self.system.strip()},
            {"role": "user", "content": self.user.strip().format(**cleaned)},
        ]

    def parse_user(self, text: str) -> dict[str, str]:
        """Invert the user template: the variable values a rendered user message was made from.

        Linear in ``len(text)``: each field's value runs to the first occurrence of the literal text that
        follows it in the template (the last one to the trailing literal), found with ``str.find``, so
        hostile text cannot make it backtrack.

        Raises:
            InvalidInputError: ``text`` does not follow this prompt's user template.
        """
        text, values, position = text.strip(), {}, 0
        pieces = list(string.Formatter().parse(self.user.strip()))
        mismatch = InvalidInputError(f"the user message does not follow prompt {self.ref}'s user template")
        for index, (literal, field, _, _) in enumerate(pieces):
            if not text.startswith(literal, position):
                raise mismatch
            position += len(literal)
            if field is None:
                continue
            following = pieces[index + 1][0] if index + 1 < len(pieces) else ""
            if index + 1 == len(pieces) or (index + 2 == len(pieces) and pieces[index + 1][1] is None):
                end = len(text) - len(following)  # the last field runs to the trailing literal
                if end < position or not text.endswith(following):
                    raise mismatch
            else:
                end = text.find(following, position) if following else position
                if end < 0:
                    raise mismatch
            value = text[position:end]
            if values.setdefault(field, value) != value:  # a field used twice must repeat its value
                raise mismatch
            position = end
        if position != len(text):
            raise mismatch
        return values


def offer_variables(offer: OfferHit, segment: str, channel: str) -> dict[str, str]:
    """The :data:`PIPELINE_VARIABLES` for one offer and one customer."""
    return {
        "segment": segment,
        "channel": channel,
        "offer_title": offer.title,
        "offer_text": offer.text,
        "category": offer.category,
        "discount_pct": f"{offer.discount_pct:g}",
        "min_spend": f"{offer.min_spend:g}",
    }


def _as_data(value: str) -> str:
    # Values are data: newlines could fake a new message section and braces a template field.
    return re.sub(r"\s+", " ", value.replace("{", "(").replace("}", ")")).strip()


def read_prompt_file(path: Path) -> PromptSpec:
    """Parse one prompt YAML file; a malformed one is an ``InvalidInputError`` naming the file."""
    try:
        return PromptSpec.model_validate(yaml.safe_load(Path(path).read_text()))
    except (yaml.YAMLError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not a valid prompt file ({exc})") from None


def load_prompt(prompts_dir: Path, name: str) -> PromptSpec:
    path = Path(prompts_dir) / f"{name}.yaml"
    if not path.is_file():
        raise NotFoundError(f"no prompt '{name}' in {prompts_dir} (expected {path})")
    return read_prompt_file(path)
