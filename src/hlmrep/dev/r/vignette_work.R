# The vignette's R code for the work the default pipeline does, timed for the pipeline
# benchmark's R ratio (python -m hlmrep benchmark --pipeline): the ten configured models
# fitted by lme4 (REML), the three likelihood-ratio comparisons as anova() prints them,
# confint(model3, method = "boot", nsim = NSIM) and two parametric-bootstrap LR tests
# (pbkrtest::PBmodcomp, NSIM each: the minority effect and the random cses slope).
# Usage: Rscript vignette_work.R [NSIM]; prints the elapsed seconds of the work (data
# preparation included) on its last line, "seconds <s>".
suppressPackageStartupMessages({
  library(lme4)
  library(pbkrtest)
  library(mlmRev)
  library(nlme)
})
args <- commandArgs(trailingOnly = TRUE)
nsim <- if (length(args) >= 1) as.integer(args[[1]]) else 1000L
started <- proc.time()[["elapsed"]]

# The data stage: Hsb82 with the school file's MEANSES, the sample meanses and cses.
HSB <- as.data.frame(Hsb82)
schools <- as.data.frame(nlme::MathAchSchool)
HSB$meanses <- ave(HSB$ses, HSB$school)
HSB$cses <- HSB$ses - HSB$meanses
HSB$meanses_school_file <- schools$MEANSES[match(as.character(HSB$school),
                                                 as.character(schools$School))]
HSB$minority <- as.numeric(HSB$minrty == "Yes")

fits <- list(
  table_4_2 = lmer(mAch ~ 1 + (1 | school), data = HSB),
  table_4_3 = lmer(mAch ~ meanses_school_file + (1 | school), data = HSB),
  table_4_5 = lmer(mAch ~ cses * meanses_school_file + cses * sector + (cses | school),
                   data = HSB),
  table_4_5_no_slope = lmer(mAch ~ cses * meanses_school_file + cses * sector + (1 | school),
                            data = HSB),
  model3 = lmer(mAch ~ cses + (cses | school), data = HSB),
  model3a = lmer(mAch ~ cses + minority + (cses + minority | school), data = HSB),
  model4 = lmer(mAch ~ cses * meanses + cses * sector + (cses | school), data = HSB),
  mod3_null = lmer(mAch ~ cses + (1 | school), data = HSB),
  mod3_int = lmer(mAch ~ cses + minority + (1 | school), data = HSB),
  mod3_int_null = lmer(mAch ~ cses + (1 | school), data = HSB)
)
invisible(lapply(fits, summary))

# The comparisons: a fixed effect on ML refits, the random parts on the REML criteria.
print(anova(fits$mod3_int_null, fits$mod3_int))
print(anova(fits$mod3_null, fits$model3, refit = FALSE))
print(anova(fits$table_4_5_no_slope, fits$table_4_5, refit = FALSE))

set.seed(20020575)
print(confint(fits$model3, method = "boot", nsim = nsim))
print(PBmodcomp(fits$mod3_int, fits$mod3_int_null, nsim = nsim))
print(PBmodcomp(fits$model3, fits$mod3_null, nsim = nsim))

cat(sprintf("seconds %.3f\n", proc.time()[["elapsed"]] - started))
