"""The optimizer: saddles escaped and reported, optimum verified, statsmodels compared."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.formula.api as smf


def test_bounded_gradient_method_stops_on_the_saddle_ours_does_not(fit_hsb):
    """On model3, L-BFGS-B with θ₃ ≥ 0 from lme4's start stops at θ₃ = 0, a saddle 9.73 above.

    That is why the engine runs its gradient method without bounds, probes bound elements,
    and verifies first- and second-order conditions.
    """
    from scipy.optimize import minimize

    from hlmrep.engine.deviance import cross_products, profiled_deviance

    result = fit_hsb("mathach ~ cses + (cses | school)")
    d = result.design
    cp = cross_products(d.X, d.Z, d.y, d.group_index, len(d.group_levels))
    bounded = minimize(
        profiled_deviance,
        [1.0, 0.0, 1.0],
        args=(cp, True),
        method="L-BFGS-B",
        bounds=[(0, None), (None, None), (0, None)],
    )
    assert bounded.x[2] == pytest.approx(0.0, abs=1e-6)
    assert bounded.fun - result.criterion == pytest.approx(9.73, abs=0.01)
    assert result.optimum.verified and result.optimum.runs_agree
    assert result.theta[2] > 0.1
    assert result.optimum.max_abs_projected_gradient < 1e-2
    assert result.optimum.hessian_min_eigenvalue > 0
    lbfgsb = next(r for r in result.optimum.runs if r.optimizer == "lbfgsb")
    assert lbfgsb.criterion - result.criterion < 1e-4


def test_compiled_kernel_equals_the_reference_implementation(hsb):
    """kernel.deviance (numba) against decompose/criterion_from (NumPy), q = 1..4, REML/ML."""
    from hlmrep.engine.design import build_design
    from hlmrep.engine.deviance import (
        cross_products,
        profiled_deviance_batch,
        profiled_deviance_reference,
    )
    from hlmrep.engine.formula import parse_formula

    rng = np.random.default_rng(3)
    for random in ("1", "cses", "cses + minority", "cses + minority + female"):
        d = build_design(parse_formula(f"mathach ~ cses + minority + ({random} | school)"), hsb)
        cp = cross_products(d.X, d.Z, d.y, d.group_index, len(d.group_levels))
        thetas = rng.uniform(-1.0, 1.0, size=(5, cp.q * (cp.q + 1) // 2))
        for reml in (True, False):
            fast = profiled_deviance_batch(thetas, cp, reml)
            slow = np.array([profiled_deviance_reference(t, cp, reml) for t in thetas])
            assert np.allclose(fast, slow, rtol=1e-12, atol=0), (random, reml)


def test_boundary_probe_escapes_a_saddle_start():
    """Started on the saddle θ₃ = 0, the probe steps inside and finds the optimum."""
    from hlmrep.engine.deviance import cross_products, profiled_deviance, theta_lower_bounds
    from hlmrep.engine.optimize import find_optimum

    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(40), 25)
    x = rng.normal(size=groups.size)
    intercepts, slopes = rng.normal(1.0, 1.0, size=40), rng.normal(2.0, 1.0, size=40)
    y = intercepts[groups] + slopes[groups] * x + rng.normal(size=groups.size)
    X = np.column_stack([np.ones_like(x), x])
    cp = cross_products(X, X, y, groups, 40)
    objective = lambda t: profiled_deviance(t, cp, True)  # noqa: E731
    report = find_optimum(
        objective, np.array([1.0, 0.0, 0.0]), theta_lower_bounds(2), np.array([True, False, True])
    )
    assert report.theta[2] > 0.5
    assert report.verified


def test_singular_boundary_optimum_is_verified():
    """A true zero variance: the optimum sits on the bound and the probe confirms it."""
    from hlmrep.engine.deviance import cross_products, profiled_deviance, theta_lower_bounds
    from hlmrep.engine.optimize import find_optimum

    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(30), 10)
    y = rng.normal(size=groups.size)  # no group effect at all
    X = np.ones((groups.size, 1))
    cp = cross_products(X, X, y, groups, 30)
    report = find_optimum(
        lambda t: profiled_deviance(t, cp, True),
        np.array([1.0]),
        theta_lower_bounds(1),
        np.array([True]),
    )
    if report.theta[0] <= 1e-6:
        assert report.at_bound == [True]
        assert "boundary optimum" in report.boundary_probe
    assert report.verified


@pytest.mark.parametrize(
    "formula, re_formula, reml",
    [
        ("mathach ~ cses", "1", True),
        ("mathach ~ meanses", "1", True),
        ("mathach ~ cses + minority", "1", False),
        ("mathach ~ cses", "~cses", True),
    ],
)
def test_statsmodels_agrees_where_it_converges_and_is_worse_where_not(
    hsb, fit_hsb, formula, re_formula, reml
):
    """statsmodels' log-likelihoods are on lme4's scale (REML and ML), so they compare."""
    # statsmodels 0.15 with method=["lbfgs"] alone reports "converged" at intercept 0 with
    # SE 5.6e6 and logLik inf on these models; its default method list is used here, and
    # only a finite likelihood counts as converged.
    data = hsb[["mathach", "cses", "meanses", "school"]].assign(
        minority=(hsb["minority"] == "Yes").astype(float)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm(formula, data, groups=data["school"], re_formula=re_formula).fit(reml=reml)
    random = "cses" if "cses" in re_formula else "1"
    ours = fit_hsb(f"{formula} + ({random} | school)", reml)
    if sm.converged and np.isfinite(sm.llf):
        assert np.allclose(ours.beta.to_numpy(), sm.fe_params.to_numpy(), rtol=1e-5)
        assert np.allclose(ours.std_errors.to_numpy(), sm.bse_fe.to_numpy(), rtol=1e-3)
        assert ours.sigma2 == pytest.approx(sm.scale, rel=1e-5)
        assert np.allclose(ours.random_cov.to_numpy(), sm.cov_re.to_numpy(), rtol=1e-3, atol=1e-4)
        assert ours.loglik == pytest.approx(sm.llf, abs=1e-3)
    else:  # e.g. model3: statsmodels stops with a slope variance of 15.6 instead of 0.69
        assert ours.loglik > sm.llf + 0.1


def test_scaled_gradient_is_lme4s_solve_chol_hessian_gradient():
    """lme4's checkConv: scgrad = solve(chol(H), g) with chol(H) upper (H = R'R), then
    max(pmin(|scgrad|, |g|)); signs matter (R⁻¹ mixes the elements)."""
    from hlmrep.engine.optimality import scaled_gradient_measure

    H = 400 * np.array([[4.0, 1.9, 0.3], [1.9, 1.0, 0.2], [0.3, 0.2, 2.0]])
    g = np.array([0.02, -0.05, 0.004])
    R = np.linalg.cholesky(H).T  # R's chol(): upper triangular, H = R'R
    scgrad = np.linalg.solve(R, g)
    expected = float(np.max(np.minimum(np.abs(scgrad), np.abs(g))))
    got = scaled_gradient_measure(g, np.zeros(3, dtype=bool), H)
    assert got == pytest.approx(expected, rel=1e-12)
    # An element on its bound contributes its projected gradient only.
    free = np.array([True, True, False])
    scgrad_free = np.linalg.solve(np.linalg.cholesky(H[:2, :2]).T, g[:2])
    expected_bound = max(np.max(np.minimum(np.abs(scgrad_free), np.abs(g[:2]))), abs(g[2]))
    assert scaled_gradient_measure(g, ~free, H[:2, :2]) == pytest.approx(expected_bound)
