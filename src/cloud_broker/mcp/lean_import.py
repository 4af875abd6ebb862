"""Start-up of the stdio server without the SDK's package-level re-exports.

``python -X importtime`` shows where ``cloud-broker mcp`` spends its time before it can answer
``initialize``. The wire types (``mcp_types``) and the low-level server are what we use, and cost
what they cost. On top of them, importing any ``mcp.*`` module first runs ``mcp/__init__.py``,
which re-exports the client stack (``Client``, ``ClientSession``, the stdio and HTTP clients,
``httpx2``) and, through ``mcp.server/__init__.py``, the high-level ``MCPServer`` (its resource
manager, OAuth routes, uvicorn): about 600 modules instead of 500, and a third of the SDK's
import time, none of which this process calls.

:func:`lean_packages` registers those two packages without running their initialisers, so
importing ``mcp.server.stdio`` loads only what that module needs. It is still the SDK's own
code: nothing is copied or patched, only the re-exports are deferred. Should anything later ask
a lean package for a name it lacks (``from mcp import Client``), the package's real initialiser
runs then, once, and the name is there: deferring never breaks an import.

httpx has the same shape: its ``__init__`` imports its command-line ``main`` (click, rich,
pygments: ~0.1 s) and falls back to a stub when that import fails. A process that serves MCP
on stdio never runs httpx's CLI, so :func:`lean_packages` makes that import fail on purpose.

Only the process entry (:func:`cloud_broker.mcp.server.main`) calls this: it owns the process.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

SDK_PACKAGES = ("mcp", "mcp.server")
SKIPPED_MODULES = ("httpx._main",)


def lean_packages(packages: Iterable[str] = SDK_PACKAGES, skipped: Iterable[str] = SKIPPED_MODULES) -> list[str]:
    """Register ``packages`` (parents first) without running their ``__init__``; mark ``skipped``
    modules as absent. Anything already imported is left alone. Returns the packages made lean."""
    for name in skipped:
        if name not in sys.modules and name.partition(".")[0] not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not available"
    return [name for name in packages if name not in sys.modules and _register(name)]


def _register(name: str) -> bool:
    parent, _, leaf = name.rpartition(".")
    path = getattr(sys.modules.get(parent), "__path__", None) if parent else None
    if parent and path is None:
        return False
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    module = importlib.util.module_from_spec(spec)
    module.__getattr__ = _completer(module, spec)  # type: ignore[method-assign]
    sys.modules[name] = module
    if parent:
        setattr(sys.modules[parent], leaf, module)
    return True


def _completer(module: ModuleType, spec: importlib.machinery.ModuleSpec) -> Callable[[str], Any]:
    """PEP 562 ``__getattr__``: a submodule is imported on its own; any other name completes the package."""

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        qualified = f"{module.__name__}.{attr}"
        if importlib.machinery.PathFinder.find_spec(qualified, module.__path__) is not None:
            return importlib.import_module(qualified)
        vars(module).pop("__getattr__", None)
        assert spec.loader is not None
        spec.loader.exec_module(module)  # the package's own initialiser, now that a name of it is needed
        return vars(module)[attr] if attr in vars(module) else _missing(module, attr)

    return __getattr__


def _missing(module: ModuleType, attr: str) -> Any:
    raise AttributeError(f"module {module.__name__!r} has no attribute {attr!r}")
