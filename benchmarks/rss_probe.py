"""Run `bp train ARGS...` in this process and print its memory as JSON (Linux /proc).

imported_kib: resident set once everything `bp train` imports is loaded;
startup_kib: the same after a 1-epoch warm-up run of the same command in this process, so that
  everything loaded or allocated once on first use (numpy's lazily imported submodules, the
  allocator's first arenas) is in it and what remains is what the run's length costs;
peak_kib: the high-water mark of the real run (reset after the warm-up by writing 5 to
  /proc/self/clear_refs, so that earlier transients do not count).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def bp(args: list[str]) -> None:
    from backprop_cli import cli

    try:
        cli.app(args, standalone_mode=False)
    except SystemExit:
        pass


def main(args: list[str]) -> None:
    from backprop_cli import cli, trainer  # noqa: F401  (all that `bp train` loads before training)

    imported = status_kib("VmRSS")
    with tempfile.TemporaryDirectory() as warm_up_runs:
        bp(args + ["--set", "train.epochs=1", "--runs-dir", warm_up_runs])
    startup = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    bp(args)
    print(json.dumps({"imported_kib": imported, "startup_kib": startup, "peak_kib": status_kib("VmHWM")}))


if __name__ == "__main__":
    main(sys.argv[1:])
