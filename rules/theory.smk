# Symbolic (sympy) checks of a study: results/<study>/theory.json.


rule theory:
    input:
        code=lambda wildcards: study_code(wildcards.study),
    output:
        "results/{study}/theory.json",
    params:
        config_json=lambda wildcards: study_config_json(wildcards.study),
    conda:
        "../envs/pipeline.yaml"
    log:
        "logs/theory/{study}.log",
    benchmark:
        "logs/theory/{study}.benchmark.tsv"
    shell:
        "python -m pipeline.cli theory {wildcards.study} --config-json {params.config_json:q} "
        "--out {output} > {log} 2>&1"
