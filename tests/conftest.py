from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _console_logging_reset():
    """`microdomain.cli.main` sets the package's console handler and level for its process; in
    the test process that would carry one test's -v into the next, so it is undone after each."""
    import logging

    logger = logging.getLogger("microdomain")
    level, handlers = logger.level, list(logger.handlers)
    yield
    for h in logger.handlers:
        if h not in handlers:
            logger.removeHandler(h)
    logger.setLevel(level)
