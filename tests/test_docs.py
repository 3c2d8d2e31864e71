"""The plugin guide documents every hook and every built-in plugin, with working examples."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from fastapi_chassis.app import BUILTIN_PLUGINS
from fastapi_chassis.plugins.hookspecs import ChassisHookspecs

GUIDE = Path(__file__).parent.parent / "docs" / "guides" / "plugins.md"
HOOKS = sorted(name for name in vars(ChassisHookspecs) if name.startswith("chassis_"))
_FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _sections(text: str, level: str) -> dict[str, str]:
    """The sections of a Markdown text under headings of one level, by heading."""
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def _hook_sections() -> dict[str, str]:
    return _sections(_sections(GUIDE.read_text(), "##")["Hooks"], "###")


def test_the_guide_has_a_section_for_each_hook_and_no_other() -> None:
    assert sorted(_hook_sections()) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_section_gives_arguments_return_value_call_time_and_an_example(
    hook: str,
) -> None:
    section = _hook_sections().get(hook, "")

    for label in ("**Arguments:**", "**Returns:**", "**Called:**"):
        assert label in section, f"the {hook} section lacks {label}"
    examples = _FENCE.findall(section)
    assert examples, f"the {hook} section has no Python example"
    defined = {
        node.name
        for example in examples
        for node in ast.walk(ast.parse(example))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert hook in defined, f"the {hook} example does not implement {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hookspec_docstring_has_an_example_implementing_it(hook: str) -> None:
    docstring = inspect.getdoc(getattr(ChassisHookspecs, hook)) or ""

    _, found, example = docstring.partition("\nExample:\n")
    assert found, f"the {hook} docstring has no Example: block"
    code = _FENCE.findall(inspect.cleandoc(example))
    assert code, f"the {hook} docstring example is not a fenced Python block"
    assert f"def {hook}(" in code[0]
    ast.parse(code[0])


def test_every_python_example_in_the_guide_is_valid_python() -> None:
    for example in _FENCE.findall(GUIDE.read_text()):
        ast.parse(example)


def test_the_guide_lists_every_builtin_plugin() -> None:
    table = _sections(_sections(GUIDE.read_text(), "##")["Choosing which plugins load"], "###")
    listed = re.findall(r"^\| `([\w.]+)` \|", table["Built-in plugins"], flags=re.MULTILINE)

    assert listed == [name for name, _ in BUILTIN_PLUGINS]
