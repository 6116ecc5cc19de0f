"""Command line the Snakemake rules call: ``python -m pipeline.cli {run,theory,claims,aggregate,report}``.

Each subcommand does one stage for one study and writes its outputs atomically, so a failed or
killed job never leaves a partial output behind. ``--config-json`` carries the resolved config that
a rule passes (see rules/common.smk): ``{"scale", "seed", "device", "threads", "data_root", "study": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from pipeline import paths, studies
from pipeline.core import claims as claims_mod
from pipeline.core.atomic import atomic_write_json
from pipeline.core.fingerprint import discard_stale_checkpoint, run_fingerprint
from pipeline.core.records import write_history, write_metrics

log = logging.getLogger("pipeline")


def _context(study: str, run_config: dict[str, Any], run_dir: Path, device: str, results: Path):
    return studies.RunContext(
        study=study,
        cfg=run_config["study"],
        seed=int(run_config["seed"]),
        device=device,
        scale=run_config["scale"],
        run_dir=run_dir,
        results_dir=results,
        extras={"data_root": run_config.get("data_root", "data/raw")},
    )


def cmd_run(args: argparse.Namespace) -> None:
    """Execute one run of a study into results/<study>/<run>/ (metrics.json written last)."""
    import torch

    from pipeline.core.device import select_device

    run_config = json.loads(args.config_json)
    torch.set_num_threads(args.threads)
    device = str(select_device(run_config.get("device", "auto"), args.gpus))
    run_dir = args.results / args.study / args.run
    run_dir.mkdir(parents=True, exist_ok=True)
    discard_stale_checkpoint(run_dir, run_fingerprint(run_config, args.run))
    module = studies.load(args.study)
    log.info("run %s/%s on %s", args.study, args.run, device)
    start = time.perf_counter()
    output = module.execute(args.run, _context(args.study, run_config, run_dir, device, args.results))
    wall = time.perf_counter() - start
    write_history(run_dir / "history.csv", output.history)
    write_metrics(
        run_dir / "metrics.json",
        study=args.study,
        run=args.run,
        metrics=output.metrics,
        config=run_config,
        seed=int(run_config["seed"]),
        device=device,
        wall_time_s=wall,
    )
    log.info("run %s/%s done in %.1f s", args.study, args.run, wall)


def cmd_theory(args: argparse.Namespace) -> None:
    """Write a study's symbolic checks to results/<study>/theory.json."""
    run_config = json.loads(args.config_json)
    start = time.perf_counter()
    result = studies.load(args.study).theory(run_config["study"])
    atomic_write_json(args.out, {"study": args.study, "wall_time_s": time.perf_counter() - start, **result})


def cmd_claims(args: argparse.Namespace) -> None:
    """Write a study's claims (verdicts computed from its stored results) to results/<study>/claims.csv."""
    run_config = json.loads(args.config_json)
    ctx = _context(args.study, run_config, args.results / args.study, "cpu", args.results)
    rows = studies.load(args.study).claims(run_config["study"], ctx)
    claims_mod.write_csv(rows, args.out)


def cmd_aggregate(args: argparse.Namespace) -> None:
    """Concatenate the studies' claims into results/claims.csv and a DVC metrics summary."""
    rows = [row for path in args.inputs for row in claims_mod.read_csv(path)]
    claims_mod.write_csv([claims_mod.Claim(**row) for row in rows], args.out)
    summary: dict[str, Any] = {}
    for row in rows:
        entry = summary.setdefault(row["study"], {"claims": 0, "hold": 0, "measured": {}})
        entry["claims"] += 1
        entry["hold"] += row["holds"] == "True"
        entry["measured"][row["claim_id"]] = _number(row["measured"])
    atomic_write_json(args.metrics, summary)


def _number(text: str) -> float | bool | str:
    if text in ("True", "False"):
        return text == "True"
    try:
        return float(text)
    except ValueError:
        return text


def cmd_report(args: argparse.Namespace) -> None:
    from pipeline.report import write_report

    write_report(args.studies, out=args.out, claims_csv=args.claims, figures=args.figures, bench=args.bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cli", description=__doc__)
    parser.add_argument("--results", type=Path, default=paths.RESULTS)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one run of a study")
    run.add_argument("study")
    run.add_argument("run")
    run.add_argument("--config-json", required=True)
    run.add_argument("--gpus", type=int, default=0, help="GPUs this job holds (Snakemake resources.gpu)")
    run.add_argument("--threads", type=int, default=1)
    run.set_defaults(func=cmd_run)

    theory = sub.add_parser("theory", help="symbolic checks of a study")
    theory.add_argument("study")
    theory.add_argument("--config-json", required=True)
    theory.add_argument("--out", type=Path, required=True)
    theory.set_defaults(func=cmd_theory)

    claims = sub.add_parser("claims", help="compute a study's claims from its results")
    claims.add_argument("study")
    claims.add_argument("--config-json", required=True)
    claims.add_argument("--out", type=Path, required=True)
    claims.set_defaults(func=cmd_claims)

    aggregate = sub.add_parser("aggregate", help="merge per-study claims into results/claims.csv")
    aggregate.add_argument("inputs", type=Path, nargs="+")
    aggregate.add_argument("--out", type=Path, default=paths.CLAIMS_CSV)
    aggregate.add_argument("--metrics", type=Path, default=paths.CLAIMS_METRICS)
    aggregate.set_defaults(func=cmd_aggregate)

    report = sub.add_parser("report", help="write the offline HTML report")
    report.add_argument("studies", nargs="+")
    report.add_argument("--claims", type=Path, default=paths.CLAIMS_CSV)
    report.add_argument("--figures", type=Path, default=paths.FIGURES)
    report.add_argument("--bench", type=Path, default=paths.BENCH_JSON)
    report.add_argument("--out", type=Path, default=paths.REPORT_HTML)
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
