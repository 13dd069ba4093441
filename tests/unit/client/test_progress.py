"""The wait report: a bar redrawn in place on a terminal, plain lines else."""

import io

from nativesnap.client import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def clock(values):
    it = iter(values)
    return lambda: next(it)


def test_plain_lines_when_the_stream_is_not_a_terminal():
    out = io.StringIO()
    report = progress.Progress(out, "Creating snapshot s", clock=clock([0, 2.5]))
    for value in (0, 0, 40, 40, 100):
        report(value)
    report.finish("done (available)")
    assert out.getvalue().splitlines() == [
        "Creating snapshot s: 0%", "Creating snapshot s: 40%",
        "Creating snapshot s: 100%", "Creating snapshot s: done (available) (2.5s)"]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_a_progress_bar_redrawn_in_place_on_a_terminal():
    out = Terminal()
    report = progress.Progress(out, "Exporting", clock=clock([0, 1, 2, 3]))
    report(50)
    report(100)
    report.finish("done")
    text = out.getvalue()
    assert text.startswith("\rExporting [" + "#" * 15 + "-" * 15 + "]  50%")
    assert "\rExporting [" + "#" * 30 + "] 100%" in text
    assert text.endswith("\rExporting: done (3.0s)\x1b[K\n")
    assert text.count("\n") == 1  # one line, redrawn


def test_a_resource_without_progress_shows_a_spinner_or_waiting():
    tty = Terminal()
    report = progress.Progress(tty, "Reverting", clock=clock([0, 1, 2]))
    report(None)
    report(None)
    assert "\rReverting | " in tty.getvalue() and "\rReverting / " in tty.getvalue()
    plain = io.StringIO()
    report = progress.Progress(plain, "Reverting", clock=clock([0]))
    report(None)
    report(None)
    assert plain.getvalue() == "Reverting: waiting\n"
