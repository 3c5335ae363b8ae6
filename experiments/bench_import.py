"""What importing ppl-ssl costs beyond its two big dependencies, read from `python -X importtime`, and how long the
`ppl-ssl` command takes to answer --help and --version.

    python experiments/bench_import.py [--repeats 3]

Each statement runs in a fresh interpreter `--repeats` times; the figure is the median of the summed cumulative
import times of the top-level modules it loaded. `import ppl_ssl` resolves names lazily; `import ppl_ssl.components`
registers every component (what `build_config`, `fit` and the registries need) and must not pull in scikit-learn
or matplotlib, which only evaluation and figures use.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

STATEMENTS = {
    "torch, pyro": "import torch, pyro",
    "ppl_ssl": "import ppl_ssl",
    "ppl_ssl.components (every component registered)": "import ppl_ssl.components",
    "ppl_ssl.config (build_config)": "import ppl_ssl.config",
}
HEAVY = ("sklearn", "matplotlib")


def import_profile(statement: str) -> tuple[float, set[str]]:
    """(seconds of the top-level imports, names of every module loaded) of one fresh interpreter."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True,
                            check=True)
    total, modules = 0, set()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        modules.add(name.strip())
        if len(name) - len(name.lstrip()) == 1:  # a top-level import: its cumulative time includes all below it
            total += int(cumulative)
    return total / 1e6, modules


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    medians, loaded = {}, {}
    for label, statement in STATEMENTS.items():
        runs = [import_profile(statement) for _ in range(args.repeats)]
        medians[label] = statistics.median(seconds for seconds, _ in runs)
        loaded[label] = runs[0][1]
    base = medians["torch, pyro"]
    for label, seconds in medians.items():
        heavy = sorted({m.split(".")[0] for m in loaded[label] if m.split(".")[0] in HEAVY})
        extra = "" if label == "torch, pyro" else f"  ({seconds - base:+.2f} s over torch, pyro)"
        print(f"{label:<50} {seconds:5.2f} s{extra}{'  loads ' + ', '.join(heavy) if heavy else ''}")
    # what a user waits for: whole commands, wall clock, against an interpreter that does nothing
    for label, command in COMMANDS.items():
        medians[label] = statistics.median(_wall(command) for _ in range(args.repeats))
        print(f"{label:<50} {medians[label]:5.2f} s  ({medians[label] - medians['python -c pass']:+.2f} s over python -c pass)"
              if label != "python -c pass" else f"{label:<50} {medians[label]:5.2f} s")
    return medians


COMMANDS = {"python -c pass": [sys.executable, "-c", "pass"],
            "ppl-ssl --help": [sys.executable, "-m", "ppl_ssl", "--help"],
            "ppl-ssl --version": [sys.executable, "-m", "ppl_ssl", "--version"],
            "ppl-ssl fit --help": [sys.executable, "-m", "ppl_ssl", "fit", "--help"]}


def _wall(command: list[str]) -> float:
    import time

    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
