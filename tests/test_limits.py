"""The ``limits`` section and :func:`project`: checked against cvxpy (an independent QP
solver, used only here), a hand-worked example and hypothesis properties; every infeasible set
of limits is refused in one line saying why."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.limits import Limits, LimitsConfig, project, project_box_simplex
from maxent_portfolio.options import describe_error

ASSETS = ["AAA", "BBB", "CCC", "DDD", "EEE"]
SLACK = 1e-9  # what "meets the limits" allows for rounding


def solve_qp(point: np.ndarray, limits: Limits) -> np.ndarray:
    """The projection by cvxpy, to a tight tolerance."""
    w = cp.Variable(point.size)
    constraints = [w >= limits.lower, w <= limits.upper, cp.sum(w) == 1]
    constraints += [cp.sum(w[np.flatnonzero(row)]) <= cap
                    for row, cap in zip(limits.membership, limits.caps, strict=True)]
    cp.Problem(cp.Minimize(cp.sum_squares(w - point)), constraints).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(w.value)


def assert_feasible(w: np.ndarray, limits: Limits) -> None:
    assert np.all(w >= limits.lower - SLACK) and np.all(w <= limits.upper + SLACK)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=SLACK)
    assert np.all(w @ limits.membership.T <= limits.caps + SLACK)


def random_limits(rng: np.random.Generator, grouped: bool) -> Limits:
    """Random feasible limits on ASSETS: bounds around 1/(N+1), optionally two capped groups."""
    lower = {a: float(rng.uniform(0.0, 0.12)) for a in ASSETS}
    upper = {a: float(rng.uniform(0.2, 0.6)) for a in ASSETS}
    groups = {"g1": ASSETS[:2], "g2": ASSETS[2:4]} if grouped else {}
    caps = {g: float(sum(lower[a] for a in m) + rng.uniform(0.0, 0.3))
            for g, m in groups.items()}
    config = LimitsConfig(min_weight=lower, max_weight=upper,
                          max_cash=float(rng.uniform(0.05, 0.5)), groups=groups,
                          group_caps=caps)
    return config.resolve(ASSETS)


@pytest.mark.parametrize("grouped", [False, True], ids=["bounds", "bounds-and-groups"])
def test_projection_matches_cvxpy_on_random_points(grouped: bool) -> None:
    rng = np.random.default_rng(25)
    for _ in range(8):
        limits = random_limits(rng, grouped)
        points = rng.normal(0.2, 0.5, size=(6, len(ASSETS) + 1))
        projected = project(points, limits)
        assert_feasible(projected, limits)
        for point, w in zip(points, projected, strict=True):
            np.testing.assert_allclose(w, solve_qp(point, limits), atol=1e-6)


def test_projection_matches_cvxpy_on_a_larger_universe() -> None:
    """25 assets in four capped sectors plus ungrouped ones, ties among the points."""
    rng = np.random.default_rng(3)
    names = [f"A{i:02d}" for i in range(25)]
    sectors = {f"s{k}": names[5 * k:5 * k + 5] for k in range(4)}
    limits = LimitsConfig(min_weight=0.01, max_weight=0.12, max_cash=0.05, groups=sectors,
                          group_caps={"s0": 0.2, "s1": 0.3, "s2": 0.06, "s3": 0.4}
                          ).resolve(names)
    points = np.round(rng.normal(0.05, 0.1, size=(4, 26)), 2)  # rounded: repeated values
    for point, w in zip(points, project(points, limits), strict=True):
        assert_feasible(w, limits)
        np.testing.assert_allclose(w, solve_qp(point, limits), atol=1e-6)


def test_a_single_feasible_point() -> None:
    """Lower bounds summing to 1 leave one portfolio: every point projects onto it."""
    limits = LimitsConfig(min_weight={"A": 0.6, "B": 0.4}, max_cash=0.0).resolve(["A", "B"])
    np.testing.assert_allclose(project(np.array([[5.0, -2.0, 1.0], [0, 0, 0]]), limits),
                               [[0.6, 0.4, 0.0]] * 2, atol=1e-15)


def test_hand_worked_example() -> None:
    """Two assets and cash, max_weight 0.5, cash at most 0.2, no group; x = (0.9, 0.3, -0.1).

    KKT: w = clip(x - tau, 0, upper). With tau = 0.1: (0.8 -> 0.5, 0.2, -0.2 -> 0), sum 0.7;
    so tau lies lower. With A at 0.5 and cash at 0, B takes 0.5: 0.3 - tau = 0.5, tau = -0.2;
    then cash = clip(-0.1 + 0.2) = 0.1 and the sum is 1.1, too much. With A at 0.5, B and cash
    free: 0.3 - tau + (-0.1 - tau) = 0.5, tau = -0.15: (0.5, 0.45, 0.05), sum 1. A's free value
    0.9 + 0.15 = 1.05 > 0.5 (at the cap, as assumed)."""
    limits = LimitsConfig(max_weight=0.5, max_cash=0.2).resolve(["A", "B"])
    np.testing.assert_allclose(project(np.array([0.9, 0.3, -0.1]), limits),
                               [0.5, 0.45, 0.05], atol=1e-15)


def test_hand_worked_group_cap() -> None:
    """Group {A, B} capped at 0.5, no bounds; x = (0.4, 0.4, 0.2) (already sums to 1).

    KKT: tau shared, mu on the group: A = B = 0.4 - tau - mu, C = 0.2 - tau. The cap binds:
    2(0.4 - tau - mu) = 0.5 and 0.2 - tau = 0.5, so tau = -0.3, mu = 0.45 >= 0:
    (0.25, 0.25, 0.5)."""
    limits = LimitsConfig(groups={"ab": ["A", "B"]}, group_caps={"ab": 0.5}).resolve(["A", "B"])
    np.testing.assert_allclose(project(np.array([0.4, 0.4, 0.2]), limits), [0.25, 0.25, 0.5],
                               atol=1e-15)


@pytest.mark.parametrize("grouped", [False, True], ids=["bounds", "bounds-and-groups"])
def test_feasible_points_are_unchanged(grouped: bool) -> None:
    rng = np.random.default_rng(7)
    limits = random_limits(rng, grouped)
    once = project(rng.normal(size=(20, len(ASSETS) + 1)), limits)
    np.testing.assert_allclose(project(once, limits), once, atol=1e-14)


def test_shapes_and_box_simplex_total() -> None:
    limits = LimitsConfig(max_weight=0.4).resolve(ASSETS)
    point = np.full(len(ASSETS) + 1, 1.0)
    assert project(point, limits).shape == point.shape
    np.testing.assert_allclose(project(point, limits), 1 / 6)
    w = project_box_simplex(np.zeros((2, 3)), np.zeros(3), np.ones(3), np.array([0.3, 2.4]))
    np.testing.assert_allclose(w, [[0.1] * 3, [0.8] * 3])


def test_defaults_are_the_simplex() -> None:
    limits = LimitsConfig().resolve(ASSETS)
    np.testing.assert_array_equal(limits.lower, 0.0)
    np.testing.assert_array_equal(limits.upper, 1.0)
    assert limits.membership.shape == (0, len(ASSETS) + 1)
    np.testing.assert_allclose(project(np.array([2.0, 0, 0, 0, 0, 0]), limits), [1, 0, 0, 0, 0, 0])


def test_per_asset_tables_keep_defaults_for_assets_they_omit() -> None:
    limits = LimitsConfig(min_weight={"BBB": 0.1}, max_weight={"AAA": 0.3},
                          max_cash=0.25).resolve(ASSETS)
    np.testing.assert_array_equal(limits.lower, [0, 0.1, 0, 0, 0, 0])
    np.testing.assert_array_equal(limits.upper, [0.3, 1, 1, 1, 1, 0.25])


INFEASIBLE = [
    ("sum of lower bounds", {"min_weight": 0.25}, "min_weight bounds sum to 1.25 > 1"),
    ("sum of upper bounds", {"max_weight": 0.1, "max_cash": 0.2},
     "allow at most 0.7 < 1"),
    ("group caps bind the total", {"max_weight": 0.3, "max_cash": 0.0,
                                   "groups": {"g": ASSETS[:4]}, "group_caps": {"g": 0.5}},
     "allow at most 0.8 < 1"),
    ("lower above upper", {"min_weight": {"CCC": 0.3}, "max_weight": 0.2},
     "min_weight 0.3 of 'CCC' is above its max_weight 0.2"),
    ("cap below members' floors", {"min_weight": 0.1, "groups": {"tech": ["AAA", "BBB"]},
                                   "group_caps": {"tech": 0.15}},
     "'tech' is capped at 0.15, below its members' min_weight sum 0.2"),
    ("unknown asset in a table", {"max_weight": {"ZZZ": 0.3}}, "[limits.max_weight] names 'ZZZ'"),
    ("unknown asset in a group", {"groups": {"g": ["AAA", "ZZZ"]}, "group_caps": {"g": 0.5}},
     "[limits.groups.g] names 'ZZZ', not an asset of"),
    ("unknown asset in an uncapped group", {"groups": {"g": ["YYY"]}},
     "[limits.groups.g] names 'YYY', not an asset of"),
]


@pytest.mark.parametrize(("options", "reason"), [case[1:] for case in INFEASIBLE],
                         ids=[case[0] for case in INFEASIBLE])
def test_infeasible_limits_are_refused_in_one_line(options: dict, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        LimitsConfig(**options).resolve(ASSETS)
    message = str(caught.value)
    assert reason in message and "\n" not in message


INVALID = [
    ("weight above 1", {"max_weight": 1.5}, "invalid max-weight 1.5: must be a weight in [0, 1]"),
    ("negative table weight", {"min_weight": {"AAA": -0.1}}, "invalid min-weight: must be a"),
    ("cash cap above 1", {"max_cash": 2.0}, "invalid max-cash 2.0: must be <= 1"),
    ("overlapping groups", {"groups": {"a": ["AAA"], "b": ["AAA"]}},
     "'AAA' is listed in groups 'a' and 'b'"),
    ("empty group", {"groups": {"a": []}}, "group 'a' is empty"),
    ("cap of an unknown group", {"group_caps": {"tech": 0.3}},
     "caps group 'tech', which [limits.groups] does not define"),
]


@pytest.mark.parametrize(("options", "reason"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_options_are_refused_in_one_line(options: dict, reason: str) -> None:
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as caught:
        LimitsConfig(**options)
    message = str(describe_error(caught.value))
    assert reason in message and "\n" not in message


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, Limits]:
    n = draw(st.integers(1, 6))
    names = [f"A{i}" for i in range(n)]
    unit = st.floats(0.0, 1.0)
    lower = [draw(st.floats(0.0, 1.0 / (n + 1))) for _ in names]
    upper = [max(lo, draw(unit)) for lo in lower]
    size = draw(st.integers(0, n))
    groups = {"g": names[:size]} if size else {}
    caps = {"g": sum(lower[:size]) + draw(st.floats(0.0, 1.0))} if size else {}
    config = LimitsConfig(min_weight=dict(zip(names, lower, strict=True)),
                          max_weight=dict(zip(names, upper, strict=True)),
                          max_cash=draw(unit), groups=groups,
                          group_caps={g: min(c, 1.0) for g, c in caps.items()})
    try:
        limits = config.resolve(names)
    except ConfigError:
        limits = LimitsConfig(groups=groups).resolve(names)  # infeasible draw: the simplex
    point = np.array([draw(st.floats(-3.0, 3.0)) for _ in range(n + 1)])
    return point, limits


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_projection_is_feasible_and_nearest(problem: tuple[np.ndarray, Limits]) -> None:
    point, limits = problem
    w = project(point, limits)
    assert_feasible(w, limits)
    # no feasible point is closer: the QP's optimum is no nearer than ours
    best = solve_qp(point, limits)
    assert np.linalg.norm(w - point) <= np.linalg.norm(best - point) + 1e-7
    np.testing.assert_allclose(w, best, atol=1e-6)
