"""Command line the Snakemake rules call: ``python -m pipeline.cli {run,theory,claims,aggregate,report}``.

Each subcommand does one stage for one study and writes its outputs atomically, so a failed or
killed job never leaves a partial output behind. What a rule passes (see rules/common.smk):

- ``run``: ``--run-json`` = ``{"scale", "seed", "device", "spec": {...}}``, exactly the job's params (the
  run's own spec, see :mod:`pipeline.core.study`), plus ``--run-dir``, ``--data-root``, ``--threads`` and
  ``--gpus``, which do not change a result and so are not params;
- ``theory``: ``--section-json``, the study's config section;
- ``claims``: ``--study-json`` = ``{"scale", "tag", "section"}``; claims read the results of that tag;
- ``aggregate``, ``report``: the whole table and the HTML page; ``summary``: the verdicts on a terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from pipeline import paths, studies
from pipeline.core.atomic import atomic_write_json
from pipeline.core.fingerprint import discard_stale_checkpoint, run_fingerprint
from pipeline.core.study import RunContext
from pipeline.execute import execute_run

log = logging.getLogger("pipeline")


def cmd_run(args: argparse.Namespace) -> None:
    """Execute one run of a study into its run directory (metrics.json written last)."""
    import torch

    from pipeline.core.device import select_device

    run_config = json.loads(args.run_json)
    spec = studies.spec_from_dict(args.study, run_config["spec"])
    if spec.id != args.run:
        raise SystemExit(f"error: the spec given is run {spec.id!r}, not {args.run!r}")
    torch.set_num_threads(args.threads)
    device = str(select_device(run_config.get("device", "auto"), args.gpus))
    run_dir = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    discard_stale_checkpoint(run_dir, run_fingerprint(run_config, args.run))
    ctx = RunContext(
        study=args.study,
        seed=int(run_config["seed"]),
        scale=run_config["scale"],
        device=device,
        run_dir=run_dir,
        data_root=args.data_root,
        study_dir=run_dir.parent,
    )
    log.info(
        "run %s/%s on %s, %d thread(s) (job holds %d GPU(s); CUDA_VISIBLE_DEVICES=%s; "
        "torch sees %d CUDA device(s))",
        args.study,
        args.run,
        device,
        args.threads,
        args.gpus,
        os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
        torch.cuda.device_count(),
    )
    wall = execute_run(spec, ctx, {**run_config, "threads": args.threads})
    log.info("run %s/%s done in %.1f s", args.study, args.run, wall)


def cmd_theory(args: argparse.Namespace) -> None:
    """Write a study's symbolic checks to results/<tag>/<study>/theory.json."""
    section = json.loads(args.section_json)
    start = time.perf_counter()
    result = studies.implementation(args.study).theory(section)
    atomic_write_json(args.out, {"study": args.study, "wall_time_s": time.perf_counter() - start, **result})


def results_of(study: str, study_json: str) -> Any:
    """The :class:`pipeline.results.Results` a ``--study-json`` names (claims and figures)."""
    from pipeline.results import Results

    given = json.loads(study_json)
    return Results.from_config(study, given["section"], paths.Outputs(given["tag"]), given["scale"])


def cmd_claims(args: argparse.Namespace) -> None:
    """Write a study's claims (verdicts computed from its stored results): claims.csv (the contract's
    columns) and claims.json (every field, with the documented notes and interval methods)."""
    from pipeline.core import claims as claims_mod

    rows = studies.claims_module(args.study).claims(results_of(args.study, args.study_json))
    claims_mod.write_csv(rows, args.out)
    atomic_write_json(args.out.with_suffix(".json"), claims_mod.records(rows))


def cmd_aggregate(args: argparse.Namespace) -> None:
    """Merge the studies' claims into results/<tag>/claims.csv and the DVC metrics results/<tag>/claims.json
    (per study: counts by kind and verdict, and each claim's estimate, interval and verdict)."""
    from pipeline.core import claims as claims_mod
    from pipeline.report import counts

    records = [row for path in args.inputs for row in json.loads(Path(path).read_text())]
    claims_mod.write_csv([claims_mod.Claim(**row) for row in records], args.out)
    summary: dict[str, Any] = {}
    for row in records:
        entry = summary.setdefault(row["study"], {"claims": {}})
        entry["claims"][row["claim_id"]] = {
            key: row[key] for key in ("kind", "estimate", "ci_low", "ci_high", "n", "verdict")
        }
    for study, entry in summary.items():
        entry["counts"] = counts([row for row in records if row["study"] == study])
    atomic_write_json(args.metrics, summary)


def cmd_report(args: argparse.Namespace) -> None:
    from pipeline.report import write_report

    config = json.loads(args.config_json) if args.config_json else None
    write_report(args.studies, outputs=paths.Outputs(args.tag), out=args.out, config=config, bench=args.bench)


def cmd_summary(args: argparse.Namespace) -> None:
    """Print, per study, reproductions held / inconclusive / failed, checks passed, and every claim that
    does not hold (what `make run` ends with; `make claims` alone)."""
    from pipeline.core import claims as claims_mod
    from pipeline.report import counts, interval_text, study_claims

    outputs = paths.Outputs(args.tag)
    if not outputs.claims_csv.exists():
        raise SystemExit(f"no claims yet under {outputs.results}: run `make run` (or snakemake) first")
    order = list(dict.fromkeys(row["study"] for row in claims_mod.read_csv(outputs.claims_csv)))
    print(f"claims of {outputs.results} (report: {outputs.report_html})")
    for study in order:
        claims = study_claims(outputs, study)
        c = counts(claims)
        held = f"{c['holds']} hold, {c['inconclusive']} inconclusive, {c['fails']} fail"
        print(f"{study:14s} reproductions: {held} (of {c['reproductions']});  "
              f"checks: {c['checks_passed']}/{c['checks']} pass")  # fmt: skip
        for claim in claims:
            if claim["verdict"] != "holds":
                mark = "x" if claim["verdict"] == "fails" else "?"
                threshold = claims_mod.format_number(claim["threshold"], 4)
                print(
                    f"   {mark} {claim['claim_id']} ({claim['kind']}): {interval_text(claim)} vs "
                    f"{claim['comparison']} {threshold}: {claim['verdict']}"
                )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one run of a study")
    run.add_argument("study")
    run.add_argument("run")
    run.add_argument("--run-json", required=True, help='{"scale", "seed", "device", "spec"}')
    run.add_argument("--run-dir", type=Path, required=True)
    run.add_argument("--data-root", type=Path, default=paths.RAW)
    run.add_argument("--gpus", type=int, default=0, help="GPUs this job holds (Snakemake resources.gpu)")
    run.add_argument("--threads", type=int, default=1)
    run.set_defaults(func=cmd_run)

    theory = sub.add_parser("theory", help="symbolic checks of a study")
    theory.add_argument("study")
    theory.add_argument("--section-json", required=True)
    theory.add_argument("--out", type=Path, required=True)
    theory.set_defaults(func=cmd_theory)

    claims = sub.add_parser("claims", help="compute a study's claims from its results")
    claims.add_argument("study")
    claims.add_argument("--study-json", required=True, help='{"scale", "tag", "section"}')
    claims.add_argument("--out", type=Path, required=True)
    claims.set_defaults(func=cmd_claims)

    aggregate = sub.add_parser("aggregate", help="merge per-study claims into results/<tag>/claims.csv")
    aggregate.add_argument("inputs", type=Path, nargs="+", help="the studies' claims.json")
    aggregate.add_argument("--out", type=Path, required=True)
    aggregate.add_argument("--metrics", type=Path, required=True)
    aggregate.set_defaults(func=cmd_aggregate)

    report = sub.add_parser("report", help="write the offline HTML report")
    report.add_argument("studies", nargs="+")
    report.add_argument("--tag", required=True, help="the output tree: results/<tag>/, figures/<tag>/")
    report.add_argument("--bench", type=Path, default=paths.BENCH_JSON)
    report.add_argument("--config-json", default=None, help="the validated config (shown as provenance)")
    report.add_argument("--out", type=Path, required=True)
    report.set_defaults(func=cmd_report)

    summary = sub.add_parser("summary", help="print the claims' verdicts per study")
    summary.add_argument("--tag", default="default", help="the output tree (default: default)")
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
