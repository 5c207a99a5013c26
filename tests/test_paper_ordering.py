"""The Fig. 1 ordering checker: claims decided from times to target, censored runs included."""

from __future__ import annotations

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
