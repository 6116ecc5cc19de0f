# Data preparation: data/prepared/<dataset>/ (tensors + meta.json), tracked by DVC.


rule prepare_dataset:
    output:
        meta="data/prepared/{dataset}/meta.json",
    params:
        data_root=config["data_root"],
    conda:
        "../envs/pipeline.yaml"
    log:
        "logs/prepare/{dataset}.log",
    shell:
        "python -m pipeline.data.prepare {wildcards.dataset} --data-root {params.data_root:q} "
        "--out data/prepared > {log} 2>&1"
