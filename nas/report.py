"""``python -m nas.report runs/<study_name>``: one self-contained HTML page on a study.

It shows the Pareto fronts with the baselines, hypervolume over trials, which
patterns, conv types, θ and growth rates sit on the front (against how often they
were tried), Optuna's parameter importances per objective, the failures and their
reasons, and the top genotypes with their connection-strength heat maps. The page
embeds its pictures; they are also written as PNGs beside it, in
``<study_dir>/report/``. The study is read from ``<study_dir>/study.db`` or
``journal.log``, or from ``--storage`` (a database URL or a journal file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nas.analysis.html_report import build
from nas.cli import run_command
from nas.files import check_writable
from nas.runtime import startup
from nas.study.storage import load_study


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.report", description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path, help="runs/<study_name>")
    p.add_argument("--storage", help="database URL or journal file, when the study is not in <study_dir>")
    p.add_argument("--study-name", help="default: the folder's name")
    p.add_argument("--out", type=Path, help="default: <study_dir>/report")
    args = p.parse_args(argv)
    startup()
    out = args.out or args.study_dir / "report"
    try:
        study = load_study(args.study_dir, args.storage, args.study_name)
        check_writable(out, "give --out a folder you can write")
    except ValueError as e:  # StorageError, an output folder it cannot write
        print(f"error: {e}", file=sys.stderr)
        return 2
    page = build(study, out)
    print(json.dumps({"study_name": study.study_name, "report": str(page)}))
    return 0


if __name__ == "__main__":
    run_command(main)
