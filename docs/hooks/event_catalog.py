"""MkDocs hook: generate the event catalog page (``reference/events.md``) at build time.

The page is built from an event registry with the same code as ``chassis events
catalog --format md``, so the documentation cannot drift from the models. It
lists the example shop's events (``docs/examples/shop_events.py``); the page is
generated in memory and never written to the source tree.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from fastapi_chassis.events import EventRegistry
from fastapi_chassis.events.catalog import build_catalog, catalog_markdown

PAGE = "reference/events.md"
EXAMPLES = Path("examples") / "shop_events.py"
INTRODUCTION = """\
The events of the example shop, generated from its `DomainEvent` classes when
the documentation is built. An application produces the same page with
`chassis events catalog --format md` (see [Events](../guides/events.md#the-catalog)).

"""


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("chassis_docs_shop_events", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def catalog_page(docs_dir: Path) -> str:
    """Return the Markdown of the catalog page."""
    module = _load(docs_dir / EXAMPLES)
    entries = build_catalog(
        EventRegistry(module.EVENTS),
        producer="shop-service",
        dataschema_base_url="https://schemas.example.com/events",
    )
    page = catalog_markdown(entries, title="Event catalog")
    heading, _, rest = page.partition("\n\n")
    return f"{heading}\n\n{INTRODUCTION}{rest}"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated catalog page to the site's files."""
    existing = files.get_file_from_path(PAGE)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, PAGE, content=catalog_page(Path(config.docs_dir))))
    return files
