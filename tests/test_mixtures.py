"""Mixtures: validation, published tables, files, conversions (bimix.data.mixtures)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bimix.data import mixtures as mx
from bimix.data.mixtures import Mixture, MixtureError

PILE_22 = [
    "ArXiv", "BookCorpus2", "Books3", "DM Mathematics", "Enron Emails", "EuroParl", "FreeLaw", "Github",
    "Gutenberg (PG-19)", "HackerNews", "NIH ExPorter", "OpenSubtitles", "OpenWebText2", "PhilPapers",
    "Pile-CC", "PubMed Abstracts", "PubMed Central", "StackExchange", "USPTO Backgrounds", "Ubuntu IRC",
    "Wikipedia (en)", "YoutubeSubtitles",
]
SLIMPAJAMA_7 = ["ArXiv", "Books", "C4", "CommonCrawl", "GitHub", "StackExchange", "Wikipedia"]
MINI_PILE = ["code", "books", "speeches", "legal", "reference", "math"]


# ----------------------------------------------------------------------------------- package


def test_package_face_reexports_its_modules_public_names():
    """``bimix.data.mixtures`` holds no code of its own: every public name comes from one of its modules."""
    for name in mx.__all__:
        obj = getattr(mx, name)
        if callable(obj):
            assert obj.__module__.startswith("bimix.data.mixtures."), name


# ------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "weights, named",
    [
        ({"code": -0.1, "books": 1.1}, ["'code'", "-0.1"]),
        ({"code": float("nan"), "books": 1.0}, ["'code'", "nan"]),
        ({"code": float("inf"), "books": 0.0}, ["'code'", "inf"]),
        ({"code": 0.5, "books": 0.43}, ["0.93", "'code'", "'books'"]),
        ({"code": "0.5", "books": 0.5}, ["'code'", "'0.5'"]),
    ],
)
def test_invalid_weights_raise_naming_domain_and_value(weights, named):
    with pytest.raises(MixtureError) as err:
        Mixture("bad", weights)
    for token in named:
        assert token in str(err.value)


def test_sum_error_message_states_sum_and_tolerance():
    with pytest.raises(MixtureError, match=r"weights sum to 0\.93, expected 1 within 1e-06 \(domains: "):
        Mixture("bad", {"code": 0.5, "books": 0.43})


def test_mixture_error_is_a_value_error():
    assert issubclass(MixtureError, ValueError)


def test_unknown_and_missing_domains_are_named():
    m = Mixture("m", {"code": 0.5, "books": 0.25, "typo": 0.25})
    with pytest.raises(MixtureError) as err:
        m.check_domains(["code", "books", "math"])
    msg = str(err.value)
    assert "not in the corpus: ['typo']" in msg
    assert "missing from the mixture: ['math']" in msg
    with pytest.raises(MixtureError, match="repeats"):
        m.check_domains(["code", "books", "typo", "code"])
    m.check_domains(["typo", "books", "code"])  # order does not matter for membership


def test_weights_are_read_only_and_ordered():
    m = Mixture("m", {"b": 0.75, "a": 0.25})
    assert m.domains == ("b", "a")
    with pytest.raises(TypeError):
        m.weights["a"] = 0.5  # type: ignore[index]
    np.testing.assert_array_equal(m.array(["a", "b"]), [0.25, 0.75])
    with pytest.raises(MixtureError, match="'c'"):
        m.array(["a", "b", "c"])


def test_bad_name_rejected():
    with pytest.raises(MixtureError, match="file name"):
        Mixture("../escape", {"a": 1.0})


def test_normalised_renormalises_within_tolerance_and_records_it():
    m = Mixture.normalised("rounded", {"a": 0.3333, "b": 0.3333, "c": 0.3333}, {"source": "t"}, tol=1e-3)
    assert math.isclose(sum(m.weights.values()), 1.0, abs_tol=1e-12)
    assert m.meta["renormalised"]["raw_sum"] == pytest.approx(0.9999)
    assert m.meta["source"] == "t"
    with pytest.raises(MixtureError, match="sum to 0.8999"):
        Mixture.normalised("dropped_row", {"a": 0.3333, "b": 0.3333, "c": 0.2333}, tol=1e-3)
    with pytest.raises(MixtureError, match="'b'"):
        Mixture.normalised("neg", {"a": 1.1, "b": -0.1})


# -------------------------------------------------------------------------------- published


def test_published_listing():
    listing = mx.list_published()
    assert listing["pile"] == sorted(["baseline", "doremi", "se", "ce", "je", "vne", "regmix"])
    assert listing["slimpajama"] == sorted(["baseline", "doremi", "se", "ce", "je", "vne", "doge"])


@pytest.mark.parametrize(
    "collection, name",
    [(c, n) for c, names in mx.list_published().items() for n in names],
)
def test_published_mixtures_load_renormalised_with_provenance(collection, name):
    m = mx.published(collection, name)
    assert math.isclose(math.fsum(m.weights.values()), 1.0, abs_tol=1e-12)
    assert "2405.14908" in m.meta["source"]
    assert m.meta["renormalised"]["tolerance"] == m.meta["sum_tolerance"]
    expected = {"pile": PILE_22, "slimpajama": SLIMPAJAMA_7}[collection]
    if name == "regmix":  # RegMix trained on pile-uncopyrighted: 17 domains
        assert len(m.domains) == 17 and set(m.domains) | set(m.meta["absent_domains"]) == set(PILE_22)
    else:
        m.check_domains(expected)


def test_published_raw_columns_are_rounded_not_exact():
    # the printed 4-decimal columns do not all sum to 1 within 1e-6: a strict load must refuse one
    raw = json.loads((mx.PUBLISHED_DIR / "pile" / "doremi.json").read_text())
    with pytest.raises(MixtureError, match="sum to 1.0001"):
        Mixture.from_json(raw)


def test_published_numbers_match_paper_spot_checks():
    ce = mx.published("pile", "ce")
    assert ce.weights["Pile-CC"] * ce.meta["renormalised"]["raw_sum"] == pytest.approx(0.0841)
    assert ce.weights["Github"] * ce.meta["renormalised"]["raw_sum"] == pytest.approx(0.0451)
    assert mx.published("slimpajama", "vne").weights["Wikipedia"] == pytest.approx(0.3103 / 1.0001)
    assert mx.published("slimpajama", "doge").weights["StackExchange"] == pytest.approx(0.166)
    assert mx.published("pile", "regmix").weights["Pile-CC"] == pytest.approx(0.8701 / 0.9999159)


@pytest.mark.parametrize("collection", ["pile", "slimpajama"])
def test_joint_entropy_column_is_product_of_se_and_ce(collection):
    """docs/paper.md#entropy: under a softmax, exp(JE) = exp(SE) exp(CE), so JE ∝ SE * CE to print precision."""
    domains = {"pile": PILE_22, "slimpajama": SLIMPAJAMA_7}[collection]
    se, ce, je = (mx.published(collection, n).array(domains) for n in ("se", "ce", "je"))
    product = se * ce / (se * ce).sum()
    assert np.abs(product - je).max() <= 1e-4
    # and the check has teeth: the VNE column is nowhere near the product
    vne = mx.published(collection, "vne").array(domains)
    assert np.abs(product - vne).max() > 1e-2


def test_pile_mixture_for_mini_pile_corpus_lists_both_domain_sets():
    with pytest.raises(MixtureError) as err:
        mx.load_mixture("baseline", collection="pile", domains=MINI_PILE)
    msg = str(err.value)
    assert "'Pile-CC'" in msg and "'code'" in msg and "'math'" in msg


def test_unknown_published_names():
    with pytest.raises(MixtureError, match="available"):
        mx.published("pile", "doge")
    with pytest.raises(MixtureError, match="no published collection"):
        mx.published("c4", "baseline")


# ------------------------------------------------------------------------------------ files


def test_save_load_round_trip_keeps_order_and_meta(tmp_path):
    m = Mixture("ce", {"z": 0.2, "a": 0.3, "m": 0.5}, {"corpus_hash": "abc", "method": {"T": 1024}})
    path = mx.save_mixture(m, tmp_path / "x" / "ce.json")
    back = mx.load_mixture(path)
    assert back == m and back.domains == ("z", "a", "m")
    assert json.loads(path.read_text())["meta"]["method"] == {"T": 1024}
    assert not list((tmp_path / "x").glob("*.tmp"))


def test_named_folder(tmp_path):
    assert mx.list_named(tmp_path / "missing") == []
    mx.save_named(mx.uniform(MINI_PILE), tmp_path)
    mx.save_named(mx.natural({d: 10 * (i + 1) for i, d in enumerate(MINI_PILE)}), tmp_path)
    assert mx.list_named(tmp_path) == ["natural", "uniform"]
    nat = mx.load_named("natural", tmp_path, domains=MINI_PILE)
    assert nat.weights["math"] == pytest.approx(60 / 210)
    assert nat.meta["total_tokens"] == 210
    assert mx.load_mixture("uniform", collection=tmp_path, domains=MINI_PILE).weights["code"] == pytest.approx(1 / 6)
    with pytest.raises(MixtureError, match=r"available: \['natural', 'uniform'\]"):
        mx.load_named("ce", tmp_path)
    with pytest.raises(MixtureError, match="'Pile-CC'"):
        mx.load_named("uniform", tmp_path, domains=PILE_22)


def test_load_mixture_collection_slash_name():
    assert mx.load_mixture("slimpajama/doge") == mx.published("slimpajama", "doge")
    with pytest.raises(MixtureError, match="cannot find mixture"):
        mx.load_mixture("nowhere/ce")


def test_uniform_and_natural_validation():
    assert mx.uniform(["a", "b", "c", "d"]).array(["a", "b", "c", "d"]).tolist() == [0.25] * 4
    with pytest.raises(MixtureError, match="repeated"):
        mx.uniform(["a", "a"])
    with pytest.raises(MixtureError, match="'b': -3"):
        mx.natural({"a": 5, "b": -3})
    with pytest.raises(MixtureError, match="no tokens"):
        mx.natural({"a": 0, "b": 0})


# ------------------------------------------------------------------------------ conversions


def test_doremi_json_round_trip(tmp_path):
    m = mx.published("pile", "doremi")
    flat = mx.to_doremi_json(m)
    assert isinstance(flat, dict) and list(flat) == list(m.domains)
    assert all(isinstance(v, float) for v in flat.values())
    path = tmp_path / "pile_doremi_r1_120M.json"
    path.write_text(json.dumps(flat))
    back = mx.from_doremi_json(path)
    assert back.name == "pile_doremi_r1_120M"
    assert dict(back.weights) == dict(m.weights)
    assert dict(mx.from_doremi_json(flat, "d").weights) == dict(m.weights)


def test_doremi_json_rejects_nested_and_unnormalised(tmp_path):
    path = tmp_path / "mix.json"
    mx.save_mixture(mx.uniform(["a", "b"]), path)
    with pytest.raises(MixtureError, match="nested values"):
        mx.from_doremi_json(path)
    with pytest.raises(MixtureError, match="sum to 1.2"):
        mx.from_doremi_json({"a": 0.6, "b": 0.6})
    assert mx.from_doremi_json({"a": 0.6, "b": 0.6}, tol=0.5).weights["a"] == pytest.approx(0.5)


def test_interleave_probabilities_round_trip():
    m = mx.published("slimpajama", "ce")
    order = list(reversed(SLIMPAJAMA_7))
    probs = mx.to_interleave_probabilities(m, order)
    assert probs == pytest.approx(m.array(order).tolist())
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-15)
    back = mx.from_interleave_probabilities(order, probs, "ce")
    for d in SLIMPAJAMA_7:
        assert back.weights[d] == pytest.approx(m.weights[d], abs=1e-15)
    with pytest.raises(MixtureError, match="7 domains"):
        mx.from_interleave_probabilities(order, probs[:-1], "short")


def test_interleave_probabilities_drive_hf_interleave_datasets():
    datasets = pytest.importorskip("datasets")
    domains = ["code", "books", "math"]
    m = Mixture("m", {"books": 0.3, "math": 0.1, "code": 0.6})
    parts = [datasets.Dataset.from_dict({"domain": [d] * 5000}) for d in domains]
    probs = mx.to_interleave_probabilities(m, domains)
    mixed = datasets.interleave_datasets(parts, probabilities=probs, seed=0, stopping_strategy="first_exhausted")
    drawn = mixed.select(range(4000))["domain"]
    shares = {d: drawn.count(d) / len(drawn) for d in domains}
    for d in domains:  # binomial sd at n=4000 is <= 0.008
        assert shares[d] == pytest.approx(m.weights[d], abs=0.03)


# ------------------------------------------------------------------------- largest remainder


def test_largest_remainder_deterministic_ties():
    m = mx.uniform(["a", "b", "c"])
    assert mx.largest_remainder(m, ["a", "b", "c"], 4).tolist() == [2, 1, 1]
    assert mx.largest_remainder(m, ["c", "b", "a"], 4).tolist() == [2, 1, 1]
    assert mx.largest_remainder(m, ["a", "b", "c"], 0).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="-1"):
        mx.largest_remainder(m, ["a", "b", "c"], -1)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=25).filter(
        lambda w: sum(w) > 1e-3
    ),
    total=st.integers(min_value=0, max_value=10**9),
)
def test_largest_remainder_sums_to_total_within_one(raw, total):
    domains = [f"d{i}" for i in range(len(raw))]
    s = math.fsum(raw)
    m = Mixture("h", {d: w / s for d, w in zip(domains, raw)})
    counts = mx.largest_remainder(m, domains, total)
    assert counts.dtype.kind == "i" and int(counts.sum()) == total
    assert (counts >= 0).all()
    r = m.array(domains)
    quotas = r / r.sum() * total
    assert np.all(np.abs(counts - quotas) < 1 + 1e-6)  # slack for float quotas up to 1e9
