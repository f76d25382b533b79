"""Exact, approximate and manufactured solutions to check the solver against."""
