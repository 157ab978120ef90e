"""The optimum check at 140 times HSB's size: scale-aware, as lme4's check.conv.grad.

At 1 005 900 rows in 22 400 schools the REML criterion is about 6.5e6, and the rounding in
its finite differences alone makes the raw gradient some tenths: an absolute gradient
tolerance cannot be met there by any optimizer.  lme4's scaled gradient, solve(chol(H), g),
measures the gradient in units of the curvature and must stay under 2e-3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hlmrep import fit
from hlmrep.bootstrap.chunks import replicate_rng
from hlmrep.engine import DEFAULT_CONTROL, Refittable

CHECK_CONV_GRAD = DEFAULT_CONTROL.check_conv_grad

pytestmark = pytest.mark.slow

COPIES = 140


@pytest.fixture(scope="module")
def enlarged(hsb) -> pd.DataFrame:
    """HSB 140 times over, each copy's schools with new ids (1 005 900 students)."""
    offset = 10 ** int(np.ceil(np.log10(hsb["school"].max() + 1)))
    return pd.concat(
        [hsb.assign(school=hsb["school"] + offset * (k + 1)) for k in range(COPIES)],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def enlarged_fit(enlarged):
    return fit("mathach ~ cses + (cses | school)", enlarged)


def test_enlarged_data_has_the_expected_size(enlarged):
    assert len(enlarged) == 1_005_900
    assert enlarged["school"].nunique() == 22_400


def test_model3_on_a_million_rows_is_verified_by_the_scaled_gradient(enlarged_fit):
    optimum = enlarged_fit.optimum
    assert optimum.runs_agree
    assert optimum.verified, optimum.messages
    assert optimum.max_scaled_gradient <= CHECK_CONV_GRAD
    # What made the old absolute check fail: the raw gradient is far above 2e-3 here.
    assert optimum.max_abs_projected_gradient > 10 * CHECK_CONV_GRAD


def test_ml_optimum_of_copies_is_the_hsb_optimum(enlarged, fit_hsb):
    """ML is exact here: the log-likelihood of 140 copies is 140 times HSB's, so the
    maximizer is the same θ̂ and the deviance is 140 times HSB's; a wrong stopping point at
    scale would show."""
    enlarged_ml = fit("mathach ~ cses + (cses | school)", enlarged, reml=False)
    hsb_ml = fit_hsb("mathach ~ cses + (cses | school)", reml=False)
    assert enlarged_ml.optimum.verified
    assert enlarged_ml.criterion == pytest.approx(COPIES * hsb_ml.criterion, rel=1e-10)
    assert np.allclose(enlarged_ml.theta, hsb_ml.theta, rtol=1e-4, atol=1e-5)
    assert np.allclose(enlarged_ml.beta, hsb_ml.beta, rtol=1e-6)


def test_bootstrap_replicates_on_a_million_rows_are_verified(enlarged_fit):
    model = Refittable.from_result(enlarged_fit)
    for replicate in range(3):
        cp = model.simulated_cross_products(replicate_rng(1, "scale", replicate))
        refit = model.refit(cp, [model.theta])
        assert refit["converged"] and refit["verified"], replicate
