"""Name registries for pluggable parts (flux models, geometry builders).

Built-ins register with a decorator and are also published in pyproject.toml under the same
entry-point groups third parties use, so a package that declares
``[project.entry-points."microdomain.fluxes"] my_pump = "pkg:MyPump"`` is found without touching
this code, and is held to the same contract (`check`) as the built-ins.
"""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar

from .errors import MicrodomainError

T = TypeVar("T")


class UnknownNameError(KeyError):
    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.message = f"unknown {kind} {name!r}{hint} Known: {', '.join(sorted(known))}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class PluginError(MicrodomainError, TypeError):
    """A plugin (built-in or from an entry point) that breaks its kind's contract."""


class Registry(Generic[T]):
    """Names → plugins of one kind. `check(obj)` raises TypeError when obj breaks the kind's
    contract; it runs at registration and when an entry point is loaded."""

    def __init__(self, kind: str, entry_point_group: str | None = None,
                 check: Callable[[T], None] | None = None):
        self.kind = kind
        self.group = entry_point_group
        self.check = check
        self._items: dict[str, T] = {}
        self._loaded_entry_points = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._check(obj, f"{self.kind} {name!r}")
            self._items[name] = obj
            return obj

        return decorate

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points or self.group is None:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._items:
                where = (f"{self.kind} {ep.name!r} (entry point {getattr(ep, 'value', '?')!r} "
                         f"in group {self.group!r})")
                try:
                    obj = ep.load()
                except Exception as exc:        # a broken third-party package: name it, go on
                    raise PluginError(f"{where} cannot be loaded: {exc}") from exc
                self._check(obj, where)
                self._items[ep.name] = obj

    def _check(self, obj, where: str) -> None:
        if self.check is None:
            return
        try:
            self.check(obj)
        except TypeError as exc:
            raise PluginError(f"{where}: {exc}") from None

    def get(self, name: str) -> T:
        self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._items)) from None

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._items
