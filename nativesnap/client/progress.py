"""How the CLI shows a wait: a progress bar on a terminal, plain lines
elsewhere (a log, a pipe, CI), always on stderr so stdout stays parseable.

``Progress`` is the ``callback`` of the proxy's waits: it is called with the
resource's progress (0-100, or None when the resource reports none).
"""

import time

BAR_WIDTH = 30
SPINNER = "|/-\\"


class Progress:
    def __init__(self, stream, label, tty=None, clock=time.monotonic):
        self.stream = stream
        self.label = label
        if tty is None:
            isatty = getattr(stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.clock = clock
        self.started = clock()
        self._last = object()  # what the last plain line said
        self._ticks = 0
        self._drawn = False

    def __call__(self, progress):
        if self.tty:
            self._draw(progress)
        else:
            self._line(progress)

    def _draw(self, progress):
        elapsed = self.clock() - self.started
        if progress is None:
            spin = SPINNER[self._ticks % len(SPINNER)]
            self._ticks += 1
            text = f"{self.label} {spin} {elapsed:4.0f}s"
        else:
            percent = max(0, min(100, int(progress)))
            done = BAR_WIDTH * percent // 100
            bar = "#" * done + "-" * (BAR_WIDTH - done)
            text = f"{self.label} [{bar}] {percent:3d}% {elapsed:4.0f}s"
        # \r and clear-to-end-of-line: redraw the same line in place.
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def _line(self, progress):
        if progress == self._last:
            return
        self._last = progress
        state = "waiting" if progress is None else f"{int(progress)}%"
        self.stream.write(f"{self.label}: {state}\n")
        self.stream.flush()

    def finish(self, outcome):
        """End the report with ``outcome`` ("done: available", "failed")."""
        elapsed = self.clock() - self.started
        if self.tty:
            prefix = "\r" if self._drawn else ""
            self.stream.write(f"{prefix}{self.label}: {outcome} "
                              f"({elapsed:.1f}s)\x1b[K\n")
        else:
            self.stream.write(f"{self.label}: {outcome} ({elapsed:.1f}s)\n")
        self.stream.flush()
