# One run of one study: results/<tag>/<study>/<run>/{metrics.json,history.csv} (+ checkpoint.pt, run.log).
# Its params are the run's own spec (plus scale, seed, device) and the digest of the code it executes:
# editing a key re-runs exactly the runs whose spec holds it, editing that code re-runs the study; threads
# and paths are passed on the command line and never make a job stale.


rule train:
    input:
        data=lambda wildcards: study_data(wildcards.study),
        needs=lambda wildcards: needed_metrics(wildcards.study, wildcards.run),
    output:
        metrics=str(OUT.metrics_json("{study}", "{run}")),
        history=str(OUT.history_csv("{study}", "{run}")),
    params:
        run_json=lambda wildcards: run_json(wildcards.study, wildcards.run),
        code=lambda wildcards: study_code(wildcards.study),
        run_dir=lambda wildcards: str(OUT.run_dir(wildcards.study, wildcards.run)),
        data_root=config["data_root"],
    conda:
        "../envs/pipeline.yaml"
    log:
        str(OUT.run_log("{study}", "{run}")),
    benchmark:
        str(OUT.run_benchmark("{study}", "{run}"))
    threads: config["threads"]
    resources:
        gpu=1,
    shell:
        "python -m pipeline.cli run {wildcards.study} {wildcards.run} --run-json {params.run_json:q} "
        "--run-dir {params.run_dir:q} --data-root {params.data_root:q} "
        "--gpus {resources.gpu} --threads {threads} > {log} 2>&1"
