# Data preparation: data/prepared/<dataset>/ (tensors + meta.json), tracked by DVC; shared by every scale.


rule prepare_dataset:
    output:
        meta=str(paths.prepared_meta("{dataset}")),
    params:
        data_root=config["data_root"],
        out=lambda wildcards, output: Path(output.meta).parent.parent,
    conda:
        "../envs/pipeline.yaml"
    log:
        str(paths.prepare_log("{dataset}")),
    benchmark:
        str(paths.prepare_benchmark("{dataset}"))
    shell:
        "python -m pipeline.data.prepare {wildcards.dataset} --data-root {params.data_root:q} "
        "--out {params.out} > {log} 2>&1"


rule prepare:
    """Every dataset of the config's `datasets` list (the DVC data stage's target)."""
    input:
        [str(paths.prepared_meta(name)) for name in config["datasets"]],
