"""The plugin registry (timm-style): `@register("name")` on a NameModel subclass.

Plugins come from three places: the built-ins in namegen.plugins, installed distributions
that declare an entry point in the group `namegen.plugins`, and a local folder of .py files
(`load_plugins_dir`). The registry knows nothing about any plugin.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import NamegenError

if TYPE_CHECKING:
    from .model import NameModel

ENTRY_POINT_GROUP = "namegen.plugins"
BUILTIN_PACKAGE = "namegen.plugins"  # every module in it is a built-in plugin: no hand-kept list
# The built-ins' `namegen plugins` rows, so that listing them needs no torch import (which
# would take several times longer than the listing). Written by `python -m namegen.registry`; a test fails when it is stale.
BUILTIN_LISTING = Path(__file__).parent / "plugins" / "_listing.tsv"

_plugins: dict[str, type[NameModel]] = {}
_discovered = False


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(name: str):
    """Class decorator: make a NameModel subclass available as `name`."""

    def decorate(cls: type[NameModel]) -> type[NameModel]:
        from .model import NameModel

        if not (isinstance(cls, type) and issubclass(cls, NameModel)):
            raise TypeError(f"@register({name!r}) needs a NameModel subclass, got {cls!r}")
        other = _plugins.get(name)
        if other is not None and _origin(other) != _origin(cls):
            raise NamegenError(f"plugin name {name!r} is claimed by both {_origin(other)} and {_origin(cls)}")
        cls.plugin_name = name
        _plugins[name] = cls
        return cls

    return decorate


def _discover() -> None:
    """Import the built-ins and every installed entry point, once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module(BUILTIN_PACKAGE)
    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")):
        importlib.import_module(f"{BUILTIN_PACKAGE}.{module}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # a broken third-party plugin (one that calls sys.exit too) must not break the others
            print(f"namegen: warning: plugin entry point {ep.name!r} ({ep.value}) failed to load: {err}", file=sys.stderr)
            continue
        # An entry point may name a module whose classes @register themselves, or a class itself.
        if isinstance(loaded, type) and _plugins.get(ep.name) is not loaded:
            register(ep.name)(loaded)


def load_plugins_dir(folder: str | Path) -> list[str]:
    """Import every .py file in `folder` (their @register calls add plugins). Returns the new names."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder (give the folder that holds the plugin files)" if folder.exists() else "does not exist"
        raise NamegenError(f"plugins folder {str(folder)!r} {what}")
    _discover()
    before = set(_plugins)
    for file in sorted(folder.glob("*.py")):
        if not file.is_file():  # a folder, or a FIFO that would block the import forever
            continue
        module_name = f"namegen_local_plugins.{file.stem}"
        if module_name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except (NamegenError, KeyboardInterrupt):  # Ctrl-C still interrupts
            del sys.modules[module_name]
            raise
        except BaseException as err:  # SystemExit too: a plugin's sys.exit() must not end the command as if it had succeeded
            del sys.modules[module_name]
            raise NamegenError(f"plugin file {str(file)!r} failed to import: {type(err).__name__}: {err}") from err
    return sorted(set(_plugins) - before)


def available(pattern: str = "*") -> list[str]:
    """Names of the registered plugins that match the fnmatch `pattern`, sorted."""
    _discover()
    return sorted(fnmatch.filter(_plugins, pattern))


def get(name: str) -> type[NameModel]:
    _discover()
    if name not in _plugins:
        raise NamegenError(f"unknown plugin {name!r}; available: {', '.join(available())}")
    return _plugins[name]


def describe(name: str) -> str:
    """A plugin's `namegen plugins` row: name, first docstring line, hyper-parameters with defaults (TSV)."""
    import dataclasses

    cls = get(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    defaults = ", ".join(f"{f.name}={getattr(cls.Config(), f.name)!r}" for f in dataclasses.fields(cls.Config))
    return f"{name}\t{doc[0] if doc else ''}\t{defaults}\n"


def listing() -> str:
    """Every available plugin's row (see `describe`). Only the built-ins, and no installed entry
    point: the stored listing, without importing a plugin (or torch)."""
    if not _discovered and not entry_points(group=ENTRY_POINT_GROUP) and BUILTIN_LISTING.is_file():
        return BUILTIN_LISTING.read_text(encoding="utf-8")
    return "".join(describe(name) for name in available())


def builtin_listing() -> str:
    """The built-ins' rows, computed (what BUILTIN_LISTING must hold)."""
    _discover()
    return "".join(describe(name) for name in available() if _plugins[name].__module__.startswith(BUILTIN_PACKAGE + "."))


def create(name: str, **hyperparams) -> NameModel:
    """A new, unfitted model of plugin `name`; unknown hyper-parameters are rejected."""
    return get(name)(**hyperparams)


if __name__ == "__main__":  # python -m namegen.registry: rewrite the stored listing of the built-ins
    from namegen import registry  # this file runs as __main__; the plugins register with the imported module

    registry.BUILTIN_LISTING.write_text(registry.builtin_listing(), encoding="utf-8")
    print(f"wrote {registry.BUILTIN_LISTING}")
