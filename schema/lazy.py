"""Names a package offers, each imported from its module when first used (PEP 562).

`schema` and `graphs` offer their names this way, so that importing them, or a
light module inside them (`schema.names`, `graphs.catalog`), loads nothing heavy.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, homes: Mapping[str, str] | None = None, *, every_name_of: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, which offers each name of `homes`
    (name -> the module that defines it) and every name in the `__all__` of each module
    of `every_name_of`, imported on first use and then kept.

    The modules of `every_name_of` are imported, in their order, only when a name not in
    `homes` is asked for, so that a module's list of names is written once, in it; and so
    is the package's `__all__`, which lists them.
    """
    homes = homes or {}

    def offered() -> list[str]:
        names = {*homes}
        for module in every_name_of:
            names.update(importlib.import_module(module).__all__)
        return sorted(names)

    def home_of(name: str) -> str | None:
        if name in homes:
            return homes[name]
        # A submodule not imported yet is the import system's to load, not a name to look up:
        # `from graphs import code` must not import every module of `every_name_of`.
        if name.startswith("_") or importlib.util.find_spec(f"{package}.{name}") is not None:
            return None
        for module in every_name_of:
            if name in importlib.import_module(module).__all__:
                return module
        return None

    def __getattr__(name: str) -> Any:
        if name == "__all__":
            value: Any = offered()
        elif home := home_of(name):
            value = getattr(importlib.import_module(home), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *offered()})

    return __getattr__, __dir__
