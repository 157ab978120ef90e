# The R side of tests/engine/test_inference.py: lme4's confint() (profile and Wald),
# lmerTest's Satterthwaite df, clubSandwich's CR0 robust SEs, and R's sort() of strings,
# for a fixed list of models (formulas are written here, never passed in).
#
#   Rscript tests/r/inference_oracle.R HSB_CSV LEVELS_TXT OUT_JSON
suppressMessages({
  library(lmerTest)
  library(clubSandwich)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
hsb <- read.csv(args[1])
hsb$school <- factor(hsb$school)
hsb$sector <- factor(hsb$sector, levels = c("Public", "Catholic"))  # the data stage's order
models <- list(
  model3 = list(formula = mathach ~ cses + (cses | school), data = hsb),
  anova = list(formula = mathach ~ 1 + (1 | school), data = hsb),
  model4 = list(formula = mathach ~ cses * meanses + cses * sector + (cses | school), data = hsb),
  sleep_uncorrelated = list(formula = Reaction ~ Days + (Days || Subject), data = lme4::sleepstudy)
)
out <- list()
for (name in names(models)) {
  m <- models[[name]]
  default <- lmerTest::lmer(m$formula, data = m$data)           # lme4's default optimizer
  optimum <- lme4::lmer(m$formula, data = m$data,                # bobyqa: at the optimum
                        control = lmerControl(optimizer = "bobyqa"))
  profile <- suppressWarnings(confint(optimum, oldNames = TRUE))
  wald <- confint(optimum, method = "Wald")
  table <- coef(summary(default))
  robust <- sqrt(diag(as.matrix(vcovCR(optimum, type = "CR0"))))
  out[[name]] <- list(
    reml_criterion = REMLcrit(optimum),
    profile = list(parameter = rownames(profile), lower = unname(profile[, 1]),
                   upper = unname(profile[, 2])),
    wald = list(parameter = rownames(wald), lower = unname(wald[, 1]), upper = unname(wald[, 2])),
    printed_profile = paste(capture.output(print(profile)), collapse = "\n"),
    satterthwaite = list(term = rownames(table), df = unname(table[, "df"]),
                         p = unname(table[, "Pr(>|t|)"])),
    default_theta = unname(getME(default, "theta")),
    robust_se = unname(robust)
  )
}
levels <- readLines(args[2], encoding = "UTF-8")
out$sorted_levels <- sort(levels)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), args[3])
