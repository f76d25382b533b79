"""The one base of what the library raises on purpose, so a caller can catch microdomain's errors
apart from Python's: `CaseError` (a case that cannot be run, every problem with its field),
`SimulationError` (a run that cannot go on: real negativity, dt below its minimum) and
`ResumeError` (a run directory that cannot be continued) all derive from it."""

from __future__ import annotations

from dataclasses import dataclass


class MicrodomainError(Exception):
    """Base of the errors microdomain raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a case: the file, the dotted path of the field, what is wrong."""
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class CaseError(MicrodomainError):
    """Every problem found in a case file; str() lists them one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))
