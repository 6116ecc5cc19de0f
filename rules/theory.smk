# Symbolic (sympy) checks of a study: results/<tag>/<study>/theory.json.


rule theory:
    output:
        str(OUT.theory_json("{study}")),
    params:
        section_json=lambda wildcards: json.dumps(config[wildcards.study], sort_keys=True),
        code=lambda wildcards: study_code(wildcards.study),
    conda:
        "../envs/pipeline.yaml"
    log:
        str(OUT.log("theory", "{study}")),
    benchmark:
        str(OUT.benchmark("theory", "{study}"))
    shell:
        "python -m pipeline.cli theory {wildcards.study} --section-json {params.section_json:q} "
        "--out {output} > {log} 2>&1"
