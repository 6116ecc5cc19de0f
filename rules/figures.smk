# Claims and figures of a study, computed from its stored results only (plotting never trains).


rule study_claims:
    input:
        metrics=lambda wildcards: run_metrics(wildcards.study),
        theory=lambda wildcards: theory_outputs(wildcards.study),
    output:
        "results/{study}/claims.csv",
    params:
        config_json=lambda wildcards: study_config_json(wildcards.study),
    conda:
        "../envs/pipeline.yaml"
    log:
        "logs/claims/{study}.log",
    shell:
        "python -m pipeline.cli claims {wildcards.study} --config-json {params.config_json:q} "
        "--out {output} > {log} 2>&1"


rule figures:
    input:
        metrics=lambda wildcards: run_metrics(wildcards.study),
        theory=lambda wildcards: theory_outputs(wildcards.study),
        script="analysis/{study}.py",
        shared=["analysis/__main__.py", "analysis/runs.py", "analysis/style.py"],
    output:
        directory("figures/{study}"),
    params:
        config_json=lambda wildcards: study_config_json(wildcards.study),
    conda:
        "../envs/pipeline.yaml"
    log:
        "logs/figures/{study}.log",
    shell:
        "python -m analysis {wildcards.study} --out {output} --config-json {params.config_json:q} "
        "> {log} 2>&1"
