# The ICML 2021 "Deep Learning Optimization" session as one workflow.
#   snakemake --cores all                                   # default (CPU) scale
#   snakemake --cores all --configfile config/smoke.yaml    # tests and CI
#   snakemake --cores all --resources gpu=1 --configfile config/paper.yaml
# Stages live in rules/*.smk and are generic over {study} and {run}; studies come from
# pipeline/studies.py. The config is validated against config/config.schema.yaml (defaults filled).

configfile: "config/config.yaml"


report: "docs/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/theory.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
