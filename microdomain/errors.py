"""The one base of what the library raises on purpose, so a caller can catch microdomain's errors
apart from Python's: `CaseError` (a case that cannot be run, every problem with its field),
`SimulationError` (a run that cannot go on: real negativity, dt below its minimum) and
`ResumeError` (a run directory that cannot be continued) all derive from it."""


class MicrodomainError(Exception):
    """Base of the errors microdomain raises deliberately."""
