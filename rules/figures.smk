# Claims and figures of a study, computed from its stored results only (plotting never trains).


rule study_claims:
    input:
        metrics=lambda wildcards: run_metrics(wildcards.study),
        theory=lambda wildcards: theory_outputs(wildcards.study),
    output:
        csv=str(OUT.study_claims_csv("{study}")),
        records=str(OUT.study_claims_json("{study}")),
    params:
        study_json=lambda wildcards: study_json(wildcards.study),
        code=lambda wildcards: claims_code(wildcards.study),
    conda:
        "../envs/pipeline.yaml"
    log:
        str(OUT.log("claims", "{study}")),
    benchmark:
        str(OUT.benchmark("claims", "{study}"))
    shell:
        "python -m pipeline.cli claims {wildcards.study} --study-json {params.study_json:q} "
        "--out {output.csv} > {log} 2>&1"


rule figures:
    input:
        metrics=lambda wildcards: run_metrics(wildcards.study),
        theory=lambda wildcards: theory_outputs(wildcards.study),
        script="analysis/{study}.py",
        shared=["analysis/__main__.py", "analysis/style.py", "pipeline/results.py"],
    output:
        report(
            directory(str(OUT.figure_dir("{study}"))),
            patterns=["{name}.png"],
            caption="../docs/report/figure.rst",
            category="{study}",
        ),
    params:
        study_json=lambda wildcards: study_json(wildcards.study),
        captions=lambda wildcards: captions(wildcards.study),
    conda:
        "../envs/pipeline.yaml"
    log:
        str(OUT.log("figures", "{study}")),
    benchmark:
        str(OUT.benchmark("figures", "{study}"))
    shell:
        "python -m analysis {wildcards.study} --out {output} --study-json {params.study_json:q} "
        "> {log} 2>&1"
