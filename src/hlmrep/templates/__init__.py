"""The report's Jinja2 template (report.html.j2): a package, so that the jobs that
render it depend on it (:mod:`hlmrep.dependencies`)."""
