"""Versioned prompt files (``prompts/<name>.yaml``): load one and check its declared variables."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from loyaltylens.errors import InvalidInputError, NotFoundError


class PromptSpec(BaseModel):
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

    def check_variables(self, values: dict) -> None:
        """Refuse values that don't match the declared variables (missing or extra)."""
        missing = sorted(set(self.variables) - set(values))
        extra = sorted(set(values) - set(self.variables))
        if missing or extra:
            raise InvalidInputError(
                f"prompt {self.name}@{self.version}: missing variables {missing}, unexpected {extra}"
            )


def load_prompt(prompts_dir: Path, name: str) -> PromptSpec:
    path = Path(prompts_dir) / f"{name}.yaml"
    if not path.is_file():
        raise NotFoundError(f"no prompt '{name}' in {prompts_dir} (expected {path})")
    return PromptSpec.model_validate(yaml.safe_load(path.read_text()))
