"""The testing guide documents every fixture and option, with examples that parse."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from fastapi_chassis.testing import fixtures, plugin
from tests.testing.test_unavailable import FIXTURE_NAMES

GUIDE = (Path(__file__).parents[2] / "docs" / "guides" / "testing.md").read_text()
_FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
INI_OPTIONS = [
    value
    for name, value in vars(plugin).items()
    if name.startswith("INI_") and isinstance(value, str)
]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_is_in_the_fixture_table(name: str) -> None:
    assert re.search(rf"^\| `{name}` \|", GUIDE, flags=re.MULTILINE), name
    assert callable(getattr(fixtures, name))


@pytest.mark.parametrize("option", INI_OPTIONS)
def test_every_ini_option_is_in_the_configuration_table(option: str) -> None:
    assert re.search(rf"^\| `{option}` \|", GUIDE, flags=re.MULTILINE), option


def test_the_command_line_flag_is_documented() -> None:
    assert "--chassis-rebuild-template" in GUIDE


def test_every_python_example_is_valid_python() -> None:
    examples = _FENCE.findall(GUIDE)
    assert len(examples) >= 8
    for example in examples:
        ast.parse(example)
