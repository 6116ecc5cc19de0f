# The claims table (results/<tag>/claims.csv + claims.json for DVC) and the offline HTML report.


rule claims_table:
    input:
        expand(str(OUT.study_claims_json("{study}")), study=STUDIES),
    output:
        csv=str(OUT.claims_csv),
        metrics=str(OUT.claims_json),
    conda:
        "../envs/pipeline.yaml"
    log:
        str(OUT.log("claims", "all")),
    benchmark:
        str(OUT.benchmark("claims", "all"))
    shell:
        "python -m pipeline.cli aggregate {input} --out {output.csv} --metrics {output.metrics} > {log} 2>&1"


rule report:
    input:
        claims=str(OUT.claims_csv),
        figures=expand(str(OUT.figure_dir("{study}")), study=STUDIES),
        code=["pipeline/report.py"],
    output:
        str(OUT.report_html),
    params:
        studies=STUDIES,
        tag=OUT.tag,
        config_json=lambda wildcards: json.dumps({study: config[study] for study in STUDIES}, sort_keys=True),
    conda:
        "../envs/pipeline.yaml"
    log:
        str(OUT.log("report", "index")),
    benchmark:
        str(OUT.benchmark("report", "index"))
    shell:
        "python -m pipeline.cli report {params.studies} --tag {params.tag} --out {output} "
        "--config-json {params.config_json:q} > {log} 2>&1"
