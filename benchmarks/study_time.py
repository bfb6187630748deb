"""Prints the wall-clock and CPU time of the demo study (``privids run``), per step and in total.

Usage: ``nice -n 10 .venv/bin/python benchmarks/study_time.py [--out runs/bench] [--quick] [--data PATH]``

Target (issue 8): the demo study under 5 minutes on 2 cores. The machine may be shared, so the
CPU seconds of this process are printed next to the wall clock (CPU time is what the study
needs; wall clock is what it got). One torch thread, as in ``privids run``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Run the study once and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--data", type=Path, default=None, help="flows (default: the synthetic demo)")
    parser.add_argument("--quick", action="store_true", help="first poisoning setting only")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    try:
        import flwr.common.logger  # noqa: F401  (sets its own level on import; lower it after)
    except ImportError:
        pass
    logging.getLogger("flwr").setLevel(logging.WARNING)

    from privids.config import load_run_config
    from privids.report.study import run_study

    out = args.out or Path(tempfile.mkdtemp(prefix="privids-bench-"))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    res = run_study(load_run_config(), out_dir=out, data_path=args.data, quick=args.quick)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"{'step':12s} {'status':10s} {'wall s':>8s}")
    for s in res.steps:
        print(f"{s.name:12s} {s.status:10s} {s.seconds:8.1f}")
    load = os.getloadavg()[0]
    print(f"total wall {wall:.1f} s, CPU {cpu:.1f} s (load average {load:.1f} on {os.cpu_count()} cores); "
          f"target < 300 s; report {res.report}")


if __name__ == "__main__":
    main()
