# One run of one study: results/<study>/<run>/{metrics.json,history.csv} (+ checkpoint.pt, run.log).


rule train:
    input:
        code=lambda wildcards: study_code(wildcards.study),
        data=lambda wildcards: study_data(wildcards.study),
    output:
        metrics="results/{study}/{run}/metrics.json",
        history="results/{study}/{run}/history.csv",
    params:
        config_json=lambda wildcards: study_config_json(wildcards.study),
    conda:
        "../envs/pipeline.yaml"
    log:
        "results/{study}/{run}/run.log",
    benchmark:
        "results/{study}/{run}/benchmark.tsv"
    threads: config["threads"]
    resources:
        gpu=1,
    shell:
        "python -m pipeline.cli run {wildcards.study} {wildcards.run} --config-json {params.config_json:q} "
        "--gpus {resources.gpu} --threads {threads} > {log} 2>&1"
