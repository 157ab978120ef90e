"""Every tolerance of the engine in one place, as lme4's ``lmerControl`` keeps its own.

Where lme4 has the same setting, the field has lme4's name (``check.conv.grad`` becomes
``check_conv_grad``); the rest say what they bound.  One frozen instance,
:data:`DEFAULT_CONTROL`, is what every fit, check and refit uses unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Control:
    """Tolerances and step sizes of the optimizer, its checks and the bootstrap refits."""

    # ----- lme4's default optimizer (nloptwrap: NLopt's BOBYQA), lmerControl's optCtrl -----
    #: Absolute tolerance on θ of lme4's default BOBYQA run (optCtrl xtol_abs).
    xtol_abs: float = 1e-8
    #: Absolute tolerance on the criterion of that run (optCtrl ftol_abs).
    ftol_abs: float = 1e-8
    #: Evaluations allowed to one BOBYQA run (optCtrl maxeval).
    maxeval: int = 100_000

    # ----- lme4's convergence checks (lmerControl) --------------------------------------
    #: check.conv.grad: at an optimum, for every θ element, min(|scaled gradient|,
    #: |gradient|) ≤ this, the scaled gradient being solve(chol(H), g).  Scale-aware: it
    #: holds at 7 185 rows and at a million, where the raw gradient's rounding grows with n.
    check_conv_grad: float = 2e-3
    #: A Newton step over the free θ may lower the criterion by at most this (½ g'H⁻¹g, in
    #: criterion units) at a verified optimum.  Unlike a gradient this does not depend on
    #: the units of the covariates, so no rescaling can make a point short of the optimum
    #: pass; lme4's check.conv.grad bound corresponds to about 2e-6 per θ element.
    check_conv_decrease: float = 1e-5
    #: check.conv.hess: a Hessian over free θ whose smallest eigenvalue is below this times
    #: its largest is degenerate (a variance the data do not identify); noted, as lme4 warns.
    check_conv_hess: float = 1e-6
    #: check.conv.singular (isSingular's tol): a diagonal element of T below this is a
    #: singular fit.
    check_conv_singular: float = 1e-4

    # ----- our verification of the optimum (optimize.py) ----------------------------------
    #: ftol_abs and xtol_abs of the second-start run, the boundary-probe restarts and the
    #: polish: tighter than lme4's, these runs are the check.
    check_run_tol: float = 1e-10
    #: First trust-region radius of the polishing BOBYQA run from the best point.
    polish_initial_step: float = 1e-3
    #: Runs whose criterion is within this of the best one agree (criterion units).
    runs_agree_tol: float = 1e-4
    #: A diagonal θ element at or below this is on its bound of 0.
    bound_tol: float = 1e-6
    #: Steps into the interior tried for each bound diagonal element of θ.
    probe_steps: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 0.5)
    #: Relative finite-difference step of the optimality check's gradient: h = this·max(1, |θ|).
    gradient_step: float = 1e-5
    #: Relative finite-difference step of the optimality check's Hessian.
    hessian_step: float = 1e-4
    #: The Hessian over free θ is accepted as positive semi-definite when its smallest
    #: eigenvalue is above −this·max(1, largest): finite-difference noise along flat
    #: directions, not a saddle.
    hessian_negative_tol: float = 1e-4

    # ----- the L-BFGS-B check run on the unbounded θ ---------------------------------------
    #: Relative finite-difference step of its gradient.
    lbfgsb_gradient_step: float = 1e-4
    #: scipy's ftol and gtol, and its iteration limit.
    lbfgsb_ftol: float = 1e-12
    lbfgsb_gtol: float = 1e-5
    lbfgsb_maxiter: int = 5_000

    # ----- where plain lmer stops ------------------------------------------------------------
    #: lme4's default run counts as having reached the optimum when its criterion is within
    #: this of the best one.
    lme4_stop_tol: float = 1e-4

    # ----- a fit restored from its record (fit_record.py) ----------------------------------
    #: The criterion evaluated at the stored θ must equal the stored one within this
    #: (relative): the same data and formula, or the record is refused.
    restore_rtol: float = 1e-10

    # ----- bootstrap refits (simulate.py and kernel.newton_minimize) ------------------------
    #: Newton's stopping rule: |central-difference gradient| at most this (ten times the
    #: gradient's rounding noise seen on HSB), or …
    newton_gradient_tol: float = 1e-3
    #: … lme4's scaled gradient at most this, a hundredth of check_conv_grad, which stays
    #: within reach on large data where the raw gradient's rounding grows with n.
    newton_scaled_tol: float = 2e-5
    #: Newton iterations before it gives up and BOBYQA takes over.
    newton_max_iterations: int = 20
    #: Newton declines when a variance parameter (diagonal θ) is below this: near the bound,
    #: BOBYQA, which handles bounds, takes over.
    newton_bound: float = 1e-3
    #: Armijo's sufficient-decrease constant of Newton's line search.
    newton_armijo: float = 1e-4
    #: The criterion's rounding, relative: a line-search step within this of no change is
    #: accepted (at the optimum the predicted decrease is below it).
    criterion_rounding: float = 1e-12
    #: Finite-difference step of Newton's gradient and Hessian, relative.
    newton_step: float = 1e-5
    #: BOBYQA's tolerance and first trust-region radius when Newton declines.
    refit_tol: float = 1e-10
    refit_initial_step: float = 0.1


#: The control every fit uses unless given another.
DEFAULT_CONTROL = Control()
