"""The answer verdict's model: fitted on data, stored with how it was fitted, read back the same."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sihub.assistant.verdict import FEATURES, PARAMS_PATH, VETOES, VerdictParams, choose_threshold, fit, judge, vetoed


def _cases(n: int, seed: int) -> tuple[list[dict[str, float]], list[int]]:
    """Answerable cases have a higher `sim` and `cover` than the others, with noise; `lex` is noise."""
    rng = random.Random(seed)
    rows, labels = [], []
    for i in range(n):
        y = i % 2
        rows.append(
            {
                "sim": 0.80 + 0.05 * y + rng.gauss(0, 0.02),
                "cover": 0.3 + 0.3 * y + rng.gauss(0, 0.1),
                "lex": rng.random(),
            }
        )
        labels.append(y)
    return rows, labels


def test_the_fit_finds_the_features_that_tell_the_cases_apart():
    rows, labels = _cases(400, seed=1)
    params = fit(rows, labels, features=("sim", "cover", "lex"), l2=1.0)
    weights = dict(zip(params.features, params.weights, strict=True))
    assert weights["sim"] > 1.0 and weights["cover"] > 1.0 and abs(weights["lex"]) < 0.3
    test_rows, test_labels = _cases(200, seed=2)
    right = sum((params.probability(r) >= 0.5) == bool(y) for r, y in zip(test_rows, test_labels, strict=True))
    assert right / len(test_rows) > 0.9


def test_case_weights_count_like_repeated_cases():
    rows, labels = _cases(100, seed=3)
    twice = fit(rows + rows[:10], labels + labels[:10], features=("sim", "cover"))
    weighed = fit(rows, labels, [2.0] * 10 + [1.0] * 90, features=("sim", "cover"))
    assert weighed.weights == pytest.approx(twice.weights, rel=1e-6)
    assert weighed.bias == pytest.approx(twice.bias, rel=1e-6, abs=1e-9)


def test_an_unknown_feature_counts_as_the_average_case():
    rows, labels = _cases(200, seed=4)
    rows[0]["cover"] = None
    params = fit(rows, labels, features=("sim", "cover"))
    mean_cover = params.mean[params.features.index("cover")]
    probe = {"sim": 0.83, "cover": None}
    assert params.probability(probe) == pytest.approx(params.probability({"sim": 0.83, "cover": mean_cover}))


def test_the_threshold_balances_the_two_rates():
    rows, labels = _cases(300, seed=5)
    params = fit(rows, labels, features=("sim", "cover"))
    pos = [r for r, y in zip(rows, labels, strict=True) if y]
    neg = [r for r, y in zip(rows, labels, strict=True) if not y]
    t = choose_threshold(params, pos, neg)
    assert 0.2 <= t <= 0.8
    found = sum(params.probability(r) >= t for r in pos) / len(pos)
    turned = sum(params.probability(r) < t for r in neg) / len(neg)
    assert found > 0.85 and turned > 0.85


def test_a_veto_turns_an_answer_away_whatever_the_model_says(tmp_path: Path):
    rows, labels = _cases(200, seed=6)
    params = fit(rows, labels, features=("sim", "cover"))
    sure = {"sim": 0.95, "cover": 0.9}
    assert judge(sure, params).found
    for v in VETOES:
        verdict = judge({**sure, v: 1.0}, params, missing=["2025"], kind="money")
        assert vetoed({**sure, v: 1.0}) and not verdict.found and verdict.missing == ["2025"]
        assert verdict.probability > 0.9  # the model's view is kept, the veto decides
    assert judge(sure, params, threshold=1.5).found is False
    assert not judge(sure, params, has_evidence=False).found


def test_params_are_saved_and_read_back(tmp_path: Path):
    rows, labels = _cases(100, seed=7)
    params = fit(rows, labels, features=("sim", "cover"))
    path = tmp_path / "verdict.json"
    params.save(path)
    again = VerdictParams.load(path)
    assert again.features == params.features and again.weights == pytest.approx(params.weights)
    assert again.probability({"sim": 0.82, "cover": 0.4}) == pytest.approx(
        params.probability({"sim": 0.82, "cover": 0.4})
    )


def test_the_shipped_model_is_fitted_and_says_how():
    data = json.loads(PARAMS_PATH.read_text(encoding="utf-8"))
    params = VerdictParams.load()
    assert set(params.features) == set(FEATURES) and not set(VETOES) & set(params.features)
    assert any(abs(w) > 0.05 for w in params.weights), "a placeholder, not a fitted model"
    assert 0.0 < params.threshold < 1.0
    fitted = data["fitted"]
    assert fitted["command"].startswith("python bench/answers.py --fit")
    assert fitted["cases"] and fitted["split"]["test_share"] == pytest.approx(0.4)


def test_the_gold_split_is_fixed_by_the_ids():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.answers import split_of

    ids = [json.loads(line)["id"] for line in (Path(__file__).parent / "gold" / "questions.jsonl").open()]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]  # the same every time
    share = splits.count("test") / len(splits)
    assert 0.3 <= share <= 0.5


def test_the_best_span_counts_where_it_stands_beside_the_found_passages(tmp_path: Path):
    """The deeper look and the neighbours add passages beside those the search found; their spans
    are what an answer often quotes, so the best span is taken over all of them (the median it is
    contrasted with, over the found passages only)."""
    from conftest import assistant_over

    from sihub.assistant.state import Evidence, Sentence
    from sihub.assistant.verdict import measure
    from sihub.types import Hit

    docs = {
        "en/pilot.md": "# Pilot\n\nThe pilot trained twenty advisers in the region.\n",
        "en/board.md": "# Board\n\nThe board met in May and approved the accounts.\n",
    }
    with assistant_over(tmp_path, docs) as a:
        board, pilot = (a.index.chunks_of(d.path)[0] for d in sorted(a.documents(), key=lambda d: d.path))
        hits = [Hit(board, 1.0, title="Board"), Hit(pilot, 1.0, title="Pilot", beside=True)]
        spans = [Sentence(1, 0, 20, sim=0.90, score=0.90), Sentence(0, 0, 10, sim=0.80, score=0.80)]
        spans.append(Sentence(0, 10, 20, sim=0.70, score=0.70))
        features, _ = measure(a.index, "How many advisers did the pilot train?", "en", hits, Evidence(spans, 0.0), None)
    assert features["sim"] == pytest.approx(0.90) and features["cover_best"] == pytest.approx(1.0)
    assert features["contrast"] == pytest.approx(0.90 - 0.80)
    assert features["margin"] == pytest.approx(0.10)


def test_a_name_held_only_by_another_document_than_the_best_spans_is_missing_there(tmp_path: Path):
    """The passages together hold every name of the question, but the best span's document
    does not: `names_missing` is 0, `names_missing_best` is not."""
    from conftest import assistant_over

    from sihub.assistant.state import Evidence, Sentence
    from sihub.assistant.verdict import measure
    from sihub.types import Hit

    docs = {
        "en/grants.md": "# Grants\n\nThe Brookfield Trust gives small grants to neighbourhood groups every spring.\n",
        "en/contract.md": "# Catering\n\nThe school catering contract was worth 184,000 euros over three years.\n",
    }
    question = "What was the value of the Brookfield Trust catering contract?"
    with assistant_over(tmp_path, docs) as a:
        contract, grants = (a.index.chunks_of(d.path)[0] for d in sorted(a.documents(), key=lambda d: d.path))
        hits = [Hit(contract, 1.0, title="Catering"), Hit(grants, 0.9, title="Grants")]
        spans = [Sentence(0, 0, 40, sim=0.90, score=0.90), Sentence(1, 0, 40, sim=0.80, score=0.80)]
        features, _ = measure(a.index, question, "en", hits, Evidence(spans, 0.0), None)
        assert features["names_missing"] == 0.0 and features["names_missing_best"] == 1.0
        # With the name in the best span's document, nothing is missing there either.
        spans = [Sentence(1, 0, 40, sim=0.90, score=0.90), Sentence(0, 0, 40, sim=0.80, score=0.80)]
        features, _ = measure(a.index, question, "en", hits, Evidence(spans, 0.0), None)
        assert features["names_missing_best"] == 0.0
        # A question naming nothing leaves it unknown (read as the average case).
        features, _ = measure(a.index, "How much was the contract worth?", "en", hits, Evidence(spans, 0.0), None)
        assert features["names_missing_best"] is None


def test_margin_is_unknown_when_every_span_comes_from_one_document(tmp_path: Path):
    """Asked within one country's single report, no other document competes: the margin is
    unknown (read as the average case), not a large one that would lift the probability."""
    from conftest import assistant_over

    from sihub.assistant.state import Evidence, Sentence
    from sihub.assistant.verdict import measure
    from sihub.types import Hit

    docs = {"en/pilot.md": "# Pilot\n\nThe pilot trained twenty advisers in the region. It ran for a year.\n"}
    with assistant_over(tmp_path, docs) as a:
        (pilot,) = a.index.chunks_of(a.documents()[0].path)
        hits = [Hit(pilot, 1.0, title="Pilot")]
        spans = [Sentence(0, 0, 30, sim=0.90, score=0.90), Sentence(0, 30, 60, sim=0.80, score=0.80)]
        features, _ = measure(a.index, "How many advisers did the pilot train?", "en", hits, Evidence(spans, 0.0), None)
    assert features["margin"] is None
