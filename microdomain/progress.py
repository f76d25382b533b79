"""The progress display of a run: a rich progress bar on a terminal, a line every 10 % elsewhere
(log files, CI). The last line says how the run ended — "steady state at t = 12.5 ms" when a
run stopped early because nothing changed any more, rather than a bar left at 10 %."""

from __future__ import annotations

import sys
import time as wallclock


class Progress:
    """Called as progress(t, t_end, dt) after every accepted step; close(status, t) at the end."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_decile = -1
        self.t0 = wallclock.perf_counter()
        self._bar = None

    def _text(self, t, t_end, dt) -> str:
        return (f"t = {t:.4g} ms  dt = {dt:.3g} ms  {wallclock.perf_counter() - self.t0:.1f} s")

    def __call__(self, t, t_end, dt):
        frac = min(t / t_end, 1.0) if t_end > 0 else 1.0
        if self.tty:
            self._rich(t_end).update(self._task, completed=frac * 1000, info=self._text(t, t_end, dt))
        elif int(10 * frac) > self.last_decile:
            self.last_decile = int(10 * frac)
            self.stream.write(f"{int(40 * frac) * '#':<40} {100 * frac:5.1f}%  "
                              f"{self._text(t, t_end, dt)}\n")

    def _rich(self, t_end):
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress as Bar, TaskProgressColumn, TextColumn

            self._bar = Bar(TextColumn("run"), BarColumn(), TaskProgressColumn(),
                            TextColumn("{task.fields[info]}"),
                            console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("run", total=1000, info="")
        return self._bar

    def close(self, status=None, t: float | None = None):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if status is not None:
            when = f" at t = {t:.6g} ms" if t is not None else ""
            self.stream.write(f"{status}{when} ({wallclock.perf_counter() - self.t0:.1f} s)\n")
        self.stream.flush()
