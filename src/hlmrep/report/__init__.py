"""The report stage: figures from results files, the HTML report and its templates."""
