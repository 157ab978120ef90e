# Regenerate tests/reference/lme4_reference.json: lme4's fits of the models the tests check.
#   Rscript tests/reference/make_lme4_reference.R   (from the repository root)
# Needs R with lme4, mlmRev and jsonlite (Debian: r-cran-lme4 r-cran-mlmrev r-cran-jsonlite).
# For each model it records lme4's default fit (nloptwrap) and, as lme4's allFit does by
# hand, the fits by minqa's bobyqa and Nelder_Mead, so a test can tell which is the optimum.
suppressMessages({
  library(lme4)
  library(mlmRev)
  library(jsonlite)
})

hsb <- Hsb82
names(hsb)[names(hsb) == "mAch"] <- "mathach"
names(hsb)[names(hsb) == "minrty"] <- "minority"
hsb$female <- as.integer(hsb$sx == "Female")
data(Orthodont, package = "nlme")
orthodont <- as.data.frame(Orthodont)
orthodont$Subject <- factor(as.character(orthodont$Subject))
orthodont$Sex <- factor(as.character(orthodont$Sex), levels = c("Male", "Female"))

describe <- function(m) {
  vc <- as.data.frame(VarCorr(m), order = "lower.tri")
  re <- ranef(m, condVar = TRUE)[[1]]
  cv <- attr(re, "postVar")
  list(
    criterion = if (isREML(m)) REMLcrit(m) else deviance(m),
    theta = unname(getME(m, "theta")),
    beta = as.list(fixef(m)),
    se = as.list(sqrt(diag(as.matrix(vcov(m))))),
    sigma = sigma(m),
    varcorr = lapply(seq_len(nrow(vc)), function(i) list(
      var1 = vc$var1[i], var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i],
      vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
    scaled_residuals = unname(quantile(residuals(m, scaled = TRUE))),
    logLik = as.numeric(logLik(m)),
    AIC = AIC(m), BIC = BIC(m),
    singular = isSingular(m),
    ranef_first = unname(as.matrix(re)[1:3, , drop = FALSE]),
    ranef_levels = rownames(re)[1:3],
    condvar_first = unname(cv[, , 1])
  )
}

fit_all <- function(formula, data, reml) {
  fits <- list(
    nloptwrap = lmer(formula, data = data, REML = reml),
    bobyqa = lmer(formula, data = data, REML = reml, control = lmerControl(optimizer = "bobyqa")),
    Nelder_Mead = lmer(formula, data = data, REML = reml,
                       control = lmerControl(optimizer = "Nelder_Mead"))
  )
  crit <- sapply(fits, function(m) if (isREML(m)) REMLcrit(m) else deviance(m))
  list(
    formula = deparse(formula, width.cutoff = 500L), reml = reml,
    n_obs = nobs(fits[[1]]),
    default = describe(fits$nloptwrap),
    best_optimizer = names(which.min(crit)),
    best = describe(fits[[which.min(crit)]]),
    criteria = as.list(crit)
  )
}

models <- list(
  list("hsb", "anova_oneway", mathach ~ 1 + (1 | school), TRUE),
  list("hsb", "means_as_outcomes", mathach ~ meanses + (1 | school), TRUE),
  list("hsb", "model3", mathach ~ cses + (cses | school), TRUE),
  list("hsb", "model3a", mathach ~ cses + minority + (cses + minority | school), TRUE),
  list("hsb", "model4", mathach ~ cses * meanses + cses * sector + (cses | school), TRUE),
  list("hsb", "mod3_null", mathach ~ cses + (1 | school), TRUE),
  list("hsb", "mod3_int", mathach ~ cses + minority + (1 | school), TRUE),
  list("hsb", "mod3_int_null_ml", mathach ~ cses + (1 | school), FALSE),
  list("hsb", "mod3_int_ml", mathach ~ cses + minority + (1 | school), FALSE),
  list("hsb", "model4_no_slope", mathach ~ cses * meanses + cses * sector + (1 | school), TRUE),
  list("hsb", "q4", mathach ~ cses + minority + female + (cses + minority + female | school), TRUE),
  list("sleepstudy", "sleep_reml", Reaction ~ Days + (Days | Subject), TRUE),
  list("sleepstudy", "sleep_ml", Reaction ~ Days + (Days | Subject), FALSE),
  list("sleepstudy", "sleep_int", Reaction ~ Days + (1 | Subject), TRUE),
  list("orthodont", "orthodont", distance ~ age * Sex + (age | Subject), TRUE)
)
datasets <- list(hsb = hsb, sleepstudy = sleepstudy, orthodont = orthodont)

out <- list(
  generated_by = "tests/reference/make_lme4_reference.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  models = list()
)
for (m in models) {
  res <- suppressMessages(suppressWarnings(fit_all(m[[3]], datasets[[m[[1]]]], m[[4]])))
  res$data <- m[[1]]
  out$models[[m[[2]]]] <- res
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "tests/reference/lme4_reference.json")
