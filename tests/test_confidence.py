"""prodemb.confidence: calibration, its error, and the verdict rules."""

import numpy as np
import pytest

from prodemb.confidence import (
    Calibrator,
    Verdicts,
    expected_calibration_error,
    reliability_table,
    top_path_correct,
)


def test_calibrator_maps_overconfident_scores_to_observed_accuracy():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.5, 1.0, 5000)
    correct = rng.random(5000) < (scores - 0.4)  # right 10-60 %, far less often than scored
    cal = Calibrator.fit(scores, correct)
    before = expected_calibration_error(scores, correct)
    after = expected_calibration_error(cal(scores), correct)
    assert before > 0.3 and after < 0.03
    assert np.all(np.diff(cal(np.linspace(0, 1, 50))) >= 0)  # monotone
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_allclose(again(scores), cal(scores))


def test_calibrator_without_data_is_the_identity_and_rejects_bad_knots():
    cal = Calibrator.fit(np.array([]), np.array([]))
    np.testing.assert_allclose(cal(np.array([0.2, 0.9])), [0.2, 0.9])
    with pytest.raises(ValueError, match="sorted"):
        Calibrator.from_dict({"x": [0.5, 0.1], "y": [0.1, 0.5]})


def test_ece_is_zero_when_confidence_equals_accuracy_per_bin():
    conf = np.r_[np.full(100, 0.8), np.full(100, 0.3)]
    correct = np.r_[np.arange(100) < 80, np.arange(100) < 30]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)
    table = reliability_table(conf, correct)
    assert table["count"].sum() == 200 and set(table["accuracy"].round(2)) == {0.8, 0.3}
    assert expected_calibration_error(np.full(10, 1.0), np.zeros(10)) == pytest.approx(1.0)


def test_top_path_correct_accepts_any_true_path():
    assert top_path_correct(["A > B", "A > C", ""], [["A > B"], ["A > B", "A > C"], ["A > B"]]).tolist() \
        == [True, True, False]


def test_verdicts_fitted_on_validation_flag_few_in_catalogue_products():
    rng = np.random.default_rng(1)
    sim = rng.uniform(0.9, 1.0, 1000)
    conf = rng.uniform(0.2, 1.0, 1000)
    v = Verdicts.fit(conf, sim, max_in_catalogue_rate=0.01)
    statuses = [v.judge(c, s, 5, 5)[0] for c, s in zip(conf, sim)]
    assert statuses.count("out_of_catalogue") <= 25  # <= 2 x 1 %
    assert v.judge(0.9, 0.5, 5, 5)[0] == "out_of_catalogue"  # far from every training product
    assert Verdicts.from_dict(v.to_dict()) == v


@pytest.mark.parametrize("conf, sim, n_tokens, n_known, n_paths, status, flags", [
    (0.95, 0.99, 4, 4, 1, "ok", []),
    (0.95, 0.99, 0, 0, 1, "out_of_catalogue", ["empty_text", "out_of_catalogue"]),
    (0.95, 0.99, 2, 0, 1, "out_of_catalogue", ["no_known_words", "out_of_catalogue"]),
    (0.30, 0.99, 4, 4, 1, "uncertain", ["low_confidence"]),
    (0.95, None, 4, 4, 2, "ok", ["two_paths"]),
])
def test_verdict_rules(conf, sim, n_tokens, n_known, n_paths, status, flags):
    v = Verdicts(min_confidence=0.5, min_similarity=0.9)
    assert v.judge(conf, sim, n_tokens, n_known, n_paths) == (status, flags)
