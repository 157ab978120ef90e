# hlmrep: replication of Raudenbush & Bryk (2002), chapter 4, High School and Beyond.
# Rules only wire files to the hlmrep package (src/hlmrep); see README.md.

from pathlib import Path

from hlmrep.pipeline.config import read_config_file, typed_overrides, validate_config
from snakemake.utils import update_config

# config.yaml is read as plain YAML data by hlmrep (Snakemake's `configfile:` would run YTE
# templates and merge repeated keys); --config and --configfile still take precedence.
CONFIG_SCHEMA = f"{workflow.basedir}/workflow/schemas/config.schema.yaml"
if Path("config.yaml").exists() or not workflow.overwrite_configfiles:
    update_config(config, read_config_file("config.yaml"))
    workflow.configfiles.append("config.yaml")
# --config overrides last, typed as the schema declares (Snakemake passes nested ones as strings)
update_config(config, typed_overrides(workflow.config_settings.overwrite_config, CONFIG_SCHEMA))
validate_config(config, CONFIG_SCHEMA)


# `snakemake --report report.zip`: figures, scorecard and our HTML report, with captions.
report: "workflow/captions/workflow.rst"


# On a cluster, the light jobs (gathering chunks, variance explained, the scorecard, the
# report, the cross-check that reads the parse-time plan) run on the submitting machine.
localrules:
    all,
    variance_explained,
    bootstrap_gather,
    scorecard,
    report,


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/bootstrap.smk"
include: "workflow/rules/replication.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/grading.smk"


rule all:
    default_target: True
    input:
        PLAN.final_outputs(),
