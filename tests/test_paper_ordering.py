"""The Fig. 1 ordering checker: claims decided from times to target, censored runs included."""

from __future__ import annotations

import math

import pytest

from analysis.paper_ordering import Times, check_claims, report


def _times(**means: tuple[float, ...]) -> dict[str, Times]:
    return {key: Times(values, 0) for key, values in means.items()}


EQUAL = _times(rennala_nigt=(10, 12, 11), afedpg=(11, 12, 10), synchronized_nigt=(12, 10, 11))
B = _times(rennala_nigt=(10, 11, 12), afedpg=(15, 16, 17), synchronized_nigt=(20, 21, 22))
C = _times(rennala_nigt=(10, 11, 12), afedpg=(30, 31, 32), synchronized_nigt=(25, 26, 27))


def test_the_paper_ordering_passes_every_claim():
    claims = check_claims(EQUAL, B, C)
    assert all(claims.values()), claims
    text = report({"(a)": EQUAL, "(b)": B, "(c)": C}, claims)
    assert text.count("✓") == 4 and "| (b) | afedpg | 16 |" in text


def test_each_claim_can_fail():
    far_apart = _times(
        rennala_nigt=(10, 10.5, 11), afedpg=(40, 41, 42), synchronized_nigt=(10, 11, 12)
    )
    assert not check_claims(far_apart, B, C)["(a) equal times: within noise"]
    afedpg_first = {**B, "afedpg": Times((5, 6, 7), 0)}
    assert not check_claims(EQUAL, afedpg_first, C)["(b) Rennala NIGT first"]
    smaller_lead = check_claims(EQUAL, C, B)
    assert not smaller_lead["(c) lead over AFedPG and Synchronized NIGT larger than in (b)"]


def test_first_is_decided_only_beyond_noise():
    """Rennala NIGT 'first' holds or fails only where Welch's t exceeds Student's two-sided 95%
    quantile; in between the runs do not decide it. Two shifted copies of 3 values: equal
    standard errors, Welch's degrees of freedom 4, quantile 2.7764 (a printed t table)."""
    claim = "(b) Rennala NIGT first"
    rennala = (200.0, 260.0, 230.0)  # mean 230, standard error 17.3
    se = math.sqrt(sum((v - 230.0) ** 2 for v in rennala) / 2 / 3)
    width = 2.7764 * math.hypot(se, se)
    for shift, verdict in [(-1.01, False), (-0.99, None), (0.99, None), (1.01, True)]:
        other = tuple(v + shift * width for v in rennala)
        b = _times(rennala_nigt=rennala, afedpg=other, synchronized_nigt=(900.0, 950.0, 1000.0))
        assert check_claims(EQUAL, b, C)[claim] is verdict, shift


def test_the_noise_width_is_students_quantile():
    from analysis.paper_ordering import _student_t_quantile

    for df, table in [(4, 2.7764), (8, 2.3060), (30, 2.0423)]:
        assert _student_t_quantile(0.975, df) == pytest.approx(table, abs=2e-4)


def test_first_with_a_missed_target():
    # an AFedPG that missed the target has a lower bound: below Rennala's it decides nothing
    missed = {**B, "afedpg": Times((5, 6, 7), 1)}
    assert check_claims(EQUAL, missed, C)["(b) Rennala NIGT first"] is None


def test_claims_are_not_inferred_from_missed_targets():
    """A run that missed the target counts at the budget: ties at the budget prove nothing."""
    budget = Times((100.0, 100.0, 100.0), 3)
    censored = {key: budget for key in EQUAL}
    claims = check_claims(censored, censored, censored)
    assert not claims["(a) equal times: within noise"]
    assert not claims["(b) Rennala NIGT first"] and not claims["(c) Rennala NIGT first"]
    rennala_missed = {**B, "rennala_nigt": Times((10, 11, 12), 1)}
    assert not check_claims(EQUAL, rennala_missed, C)["(b) Rennala NIGT first"]
    text = report({"(b)": {**B, "afedpg": Times((15, 16, 17), 2)}}, {})
    assert "note: (b) afedpg: 2/3 runs missed the target" in text


def test_a_lead_over_a_method_that_missed_is_decided_only_by_its_bounds():
    claim = "(c) lead over AFedPG and Synchronized NIGT larger than in (b)"
    missed = lambda values: Times(values, 1)  # noqa: E731 (counted at the budget)
    # (c)'s lower bound already exceeds (b)'s exact lead: holds
    assert check_claims(EQUAL, B, {**C, "afedpg": missed((30, 31, 32))})[claim] is True
    # (c)'s lower bound below (b)'s exact lead: the true lead may be larger, undecided
    lower = {**C, "afedpg": missed((12, 13, 14))}
    assert check_claims(EQUAL, B, lower)[claim] is None
    # an exact lead in (c) at most (b)'s lower bound: fails
    b_missed = {**B, "synchronized_nigt": missed((40, 41, 42))}
    assert check_claims(EQUAL, b_missed, C)[claim] is False
    # both lower bounds: undecided; the report says so and main's status does not fail on it
    both = check_claims(EQUAL, b_missed, {**C, "synchronized_nigt": missed((25, 26, 27))})
    assert both[claim] is None
    assert "? undecided at this budget" in report({"(b)": B}, both)


def test_the_status_fails_only_on_a_failed_claim(monkeypatch, tmp_path):
    import analysis.paper_ordering as ordering

    figures = iter([EQUAL, B, {**C, "afedpg": Times((12, 13, 14), 1)}])
    monkeypatch.setattr(ordering, "times_to_target", lambda _: next(figures))
    monkeypatch.setattr(ordering, "learning_margin", lambda _: ordering.Margin(300.0, 90.0))
    args = [arg for option in ("equal", "heterogeneous", "communication")
            for arg in (f"--{option}", str(tmp_path))]  # fmt: skip
    assert ordering.main(args) == 0
    figures = iter([EQUAL, C, B])
    assert ordering.main(args) == 1


def test_claims_on_a_panel_without_learning_margin_are_undecided():
    """A target that θ_0 nearly reaches is crossed by noise: no claim rests on such a panel."""
    from analysis.paper_ordering import LEARNING_MARGIN, Margin

    assert Margin(300.0, 90.0).learned and Margin(300.0, 90.0).ratio == 300 / 90
    assert not Margin(300.0, 300.0 / LEARNING_MARGIN + 1).learned
    assert not Margin(None, 90.0).learned and not Margin(300.0, None).learned
    claims = check_claims(EQUAL, B, C, {"(b)": False})
    assert claims["(a) equal times: within noise"] is True
    assert claims["(c) Rennala NIGT first"] is True
    assert claims["(b) Rennala NIGT first"] is None
    assert claims["(c) lead over AFedPG and Synchronized NIGT larger than in (b)"] is None
    text = report({"(b)": B}, claims, {"(b)": Margin(300.0, 200.0)})
    assert "target 300 = 1.5× θ_0's mean return 200.0 (below 2×: its claims are undecided)" in text
