# Fit one configured model with lme4, as a user of lme4 would (lmer, default control), and
# write the quantities hlmrep's engine writes, so the two can be put side by side.
#
#   Rscript workflow/scripts/lme4_fit.R --data results/data/hsb.csv \
#     --summary results/data/summary.json --name model3 \
#     --formula "mathach ~ cses + (cses | school)" --reml TRUE --out results/lme4/model3.json
#
# Needs R with lme4 and jsonlite (Debian: r-cran-lme4 r-cran-jsonlite; conda: envs/lme4.yaml).
# The categorical columns get the level order the data stage recorded in summary.json, so
# that the fixed-effect names (sectorCatholic, minorityYes) are the engine's. The output is
# written to a temporary file and renamed, so a failed fit never leaves a file behind.
suppressMessages({
  library(lme4)
  library(jsonlite)
})

parse_args <- function(args) {
  if (length(args) %% 2 != 0) stop("arguments come in --key value pairs")
  keys <- sub("^--", "", args[seq(1, length(args), by = 2)])
  values <- args[seq(2, length(args), by = 2)]
  as.list(setNames(values, keys))
}

args <- parse_args(commandArgs(trailingOnly = TRUE))
for (key in c("data", "summary", "name", "formula", "reml", "out")) {
  if (is.null(args[[key]])) stop("missing argument --", key)
}
reml <- as.logical(args$reml)
if (is.na(reml)) stop("--reml must be TRUE or FALSE, got ", args$reml)

summary <- fromJSON(args$summary, simplifyVector = TRUE)
data <- read.csv(args$data, stringsAsFactors = FALSE, check.names = FALSE)
for (column in names(summary$category_levels)) {
  if (column %in% names(data)) {
    levels <- summary$category_levels[[column]]
    unknown <- setdiff(unique(data[[column]]), levels)
    if (length(unknown) > 0) {
      stop(args$data, ": column '", column, "' has values not among the recorded levels (",
           paste(levels, collapse = ", "), "): ", paste(unknown, collapse = ", "))
    }
    data[[column]] <- factor(data[[column]], levels = levels)
  }
}

# The formula comes rebuilt by hlmrep's own parser (MixedFormula.to_r): backticked column
# names, numbers, formula operators and the allowed transformations. Check that once more
# before R parses it, so that nothing but a formula can ever be evaluated here.
allowed <- c("~", "+", "-", "*", "/", ":", "^", "(", "|", "||", "I", "log", "exp", "sqrt", "abs")
formula_text <- args$formula
if (!grepl("^[A-Za-z0-9_. `~+*/:^()|-]+$", formula_text, perl = TRUE)) {
  stop("--formula contains characters outside the formula language: ", formula_text)
}
formula <- tryCatch(str2lang(formula_text), error = function(e) {
  stop("--formula is not a formula: ", conditionMessage(e))
})
if (!is.call(formula) || !identical(formula[[1]], as.name("~")) || length(formula) != 3) {
  stop("--formula must be 'response ~ terms': ", formula_text)
}
check_calls <- function(e) {
  if (is.call(e)) {
    f <- e[[1]]
    if (!is.name(f) || !(as.character(f) %in% allowed)) {
      stop("--formula calls ", deparse(f), "(), which is not an allowed operator")
    }
    for (argument in as.list(e)[-1]) check_calls(argument)
  }
}
check_calls(formula)
unknown <- setdiff(all.names(formula), c(allowed, names(data)))
if (length(unknown) > 0) {
  stop("--formula names what is neither a column of ", args$data,
       " nor an allowed operator: ", paste(unknown, collapse = ", "))
}
formula <- eval(formula, envir = baseenv())  # a checked `~` call: builds the formula object
group <- all.vars(findbars(formula)[[1]][[3]])
data[[group]] <- factor(data[[group]])

warnings_seen <- character()
started <- proc.time()[["elapsed"]]
model <- withCallingHandlers(
  lmer(formula, data = data, REML = reml),
  warning = function(w) {
    warnings_seen <<- c(warnings_seen, conditionMessage(w))
    invokeRestart("muffleWarning")
  },
  message = function(m) {
    warnings_seen <<- c(warnings_seen, trimws(conditionMessage(m)))
    invokeRestart("muffleMessage")
  }
)
seconds <- proc.time()[["elapsed"]] - started

vc <- as.data.frame(VarCorr(model), order = "lower.tri")
# (x || g) is lme4's (1 | g) + (0 + x | g): blocks named g, g.1, g.2, ... in VarCorr.
blocks <- names(VarCorr(model))
blocks <- blocks[blocks == group | startsWith(blocks, paste0(group, "."))]
terms <- unlist(lapply(blocks, function(b) colnames(VarCorr(model)[[b]])))
variance <- vc[is.na(vc$var2) & vc$grp %in% blocks, ]
covariance <- vc[!is.na(vc$var2) & vc$grp %in% blocks, ]
correlations <- lapply(seq_len(nrow(covariance)), function(i) list(
  term1 = covariance$var1[i], term2 = covariance$var2[i],
  covariance = covariance$vcov[i], correlation = covariance$sdcor[i]
))
fixed <- fixef(model)
se <- sqrt(diag(as.matrix(vcov(model))))
criterion <- if (reml) REMLcrit(model) else deviance(model)
conv <- model@optinfo$conv$lme4

out <- list(
  engine = "lme4",
  name = args$name,
  formula = args$formula,
  estimation = if (reml) "REML" else "ML",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  optimizer = model@optinfo$optimizer,
  function_evaluations = model@optinfo$feval,
  optimizer_return_code = model@optinfo$conv$opt,
  convergence_messages = as.list(c(conv$messages, model@optinfo$warnings, warnings_seen)),
  n_obs = nobs(model),
  n_groups = unname(ngrps(model)[[group]]),
  group = group,
  criterion_name = if (reml) "REML criterion" else "deviance",
  criterion = criterion,
  logLik = as.numeric(logLik(model)),
  AIC = AIC(model),
  BIC = BIC(model),
  theta = I(unname(getME(model, "theta"))),
  singular = isSingular(model),
  fixed_effects = lapply(seq_along(fixed), function(i) list(
    term = names(fixed)[i], estimate = unname(fixed[i]), std_error = unname(se[i])
  )),
  random_effects = list(
    terms = I(terms),
    variance = I(variance$vcov[match(terms, variance$var1)]),
    sd = I(variance$sdcor[match(terms, variance$var1)]),
    correlation = correlations
  ),
  residual_variance = sigma(model)^2,
  sigma = sigma(model)
)

dir.create(dirname(args$out), showWarnings = FALSE, recursive = TRUE)
partial <- paste0(args$out, ".partial")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), partial)
if (!file.rename(partial, args$out)) stop("could not move ", partial, " to ", args$out)
cat(sprintf("lme4 %s fitted %s (%s) in %.2f s: %s %.6f\n", out$lme4_version, args$name,
            out$estimation, seconds, out$criterion_name, criterion))
