"""Shared by the benchmark scripts under scripts/: the lines every results file starts with
(date, machine, command) and an atomic write that keeps the hand-written notes a person put
below the script's marker, so a rerun refreshes the figures without losing the reading of them.

Use from a script's Python (the scripts cd to the repository root first):
    sys.path.insert(0, "scripts/lib"); import results
"""
import datetime
import os
import platform


def machine() -> str:
    """'2 cores (AMD EPYC ...), kernel 6.x': what a reader needs to weigh the figures."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), kernel {platform.release()}"


def header(title: str, command: str) -> list:
    """The title, date, machine and exact command lines, as Markdown."""
    return [f"# {title}\n",
            f"- Date: {datetime.date.today().isoformat()}",
            f"- Machine: {machine()}",
            f"- Command: `{command}`"]


def write(out: str, body: str, script: str) -> str:
    """Write body to out through a temp file and rename; what followed the marker of `script`
    in the old file is appended unchanged. Returns what was written."""
    marker = f"<!-- notes: kept by {script} -->"
    if os.path.exists(out):
        old = open(out).read()
        if marker in old:
            body += "\n" + marker + old.split(marker, 1)[1]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(body)
    os.replace(tmp, out)
    return body
