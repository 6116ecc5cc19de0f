# The claims table (results/claims.csv + results/claims.json for DVC) and the offline HTML report.


rule claims_table:
    input:
        expand("results/{study}/claims.csv", study=STUDIES),
    output:
        csv="results/claims.csv",
        metrics="results/claims.json",
    conda:
        "../envs/pipeline.yaml"
    log:
        "logs/claims/all.log",
    shell:
        "python -m pipeline.cli aggregate {input} --out {output.csv} --metrics {output.metrics} > {log} 2>&1"


rule report:
    input:
        claims="results/claims.csv",
        figures=expand("figures/{study}", study=STUDIES),
    output:
        "report/index.html",
    params:
        studies=STUDIES,
    conda:
        "../envs/pipeline.yaml"
    log:
        "logs/report.log",
    shell:
        "python -m pipeline.cli report {params.studies} --claims {input.claims} --out {output} > {log} 2>&1"
