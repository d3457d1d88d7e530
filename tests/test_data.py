"""Paper datasets: the streaming reader on local fixtures in the Pile and SlimPajama schemas (bimix.data.hub).

The fixtures are written here, into tmp_path, as JSON Lines and Parquet; they are read through
``iter_documents``, the function a hub load uses. The hub itself is never contacted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bimix.data import hub
from bimix.data.hub import DataError


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Make any accidental hub access fail at once instead of reaching the network."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets.config
    import huggingface_hub.constants

    for module in (datasets.config, huggingface_hub.constants):
        for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, True)


PILE_DOCS = {  # domain -> number of documents per split file
    "Pile-CC": 5,
    "Github": 3,
    "ArXiv": 4,
}
SLIM_RAW = ["RedPajamaCommonCrawl", "RedPajamaC4", "RedPajamaGithub", "RedPajamaArXiv"]


def pile_records(split: str) -> list[dict]:
    """Interleaved domains, as in the Pile's shards; the text says where it came from."""
    rows = []
    for i in range(max(PILE_DOCS.values())):
        for domain, n in PILE_DOCS.items():
            if i < n:
                rows.append({"text": f"{split} {domain} doc {i}", "meta": {"pile_set_name": domain}})
    return rows


def slim_records(split: str, n: int = 4) -> list[dict]:
    return [
        {"text": f"{split} {raw} doc {i}", "meta": {"redpajama_set_name": raw}, "__index_level_0__": i}
        for i in range(n)
        for raw in SLIM_RAW
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture
def pile_jsonl(tmp_path) -> Path:
    root = tmp_path / "pile_jsonl"
    for split in ("train", "validation"):
        write_jsonl(root / split / "00.jsonl", pile_records(split))
    (root / "manifest.json").write_text("{}")  # not data: must be ignored
    return root


@pytest.fixture
def pile_parquet(tmp_path) -> Path:
    root = tmp_path / "pile_parquet"
    for split in ("train", "validation"):
        write_parquet(root / f"{split}-00000-of-00001.parquet", pile_records(split))
    return root


@pytest.fixture
def slim_parquet(tmp_path) -> Path:
    root = tmp_path / "slim"
    for split in ("train", "test"):
        write_parquet(root / "data" / f"{split}-00000.parquet", slim_records(split))
    return root


def expected_pile(split: str) -> list[tuple[str, str]]:
    return [(r["meta"]["pile_set_name"], r["text"]) for r in pile_records(split)]


# --------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("fixture", ["pile_jsonl", "pile_parquet"])
@pytest.mark.parametrize("split", ["train", "validation"])
def test_pile_schema_jsonl_and_parquet(request, fixture, split):
    folder = request.getfixturevalue(fixture)
    docs = list(hub.load_local(folder, split))
    assert docs == expected_pile(split)
    assert list(hub.iter_documents(folder, split)) == docs  # the same code path
    assert list(hub.iter_documents(str(folder), split, schema="pile")) == docs


def test_slimpajama_names_are_mapped_and_filterable(slim_parquet):
    docs = list(hub.load_local(slim_parquet, "test"))
    assert {d for d, _ in docs} == {"CommonCrawl", "C4", "GitHub", "ArXiv"}
    assert docs[0] == ("CommonCrawl", "test RedPajamaCommonCrawl doc 0")
    arxiv = list(hub.load_local(slim_parquet, "test", domains=["ArXiv"]))
    assert [t for _, t in arxiv] == [f"test RedPajamaArXiv doc {i}" for i in range(4)]
    # the raw RedPajama name selects the same domain
    assert list(hub.load_local(slim_parquet, "test", domains=["RedPajamaArXiv"])) == arxiv


def test_slimpajama_jsonl_matches_parquet(tmp_path, slim_parquet):
    write_jsonl(tmp_path / "slim_jsonl" / "train" / "chunk1.jsonl", slim_records("train"))
    assert list(hub.load_local(tmp_path / "slim_jsonl")) == list(hub.load_local(slim_parquet))


def test_mini_pile_layout_with_valid_alias(tmp_path):
    """The embedded corpus writes <domain>/train-00000.jsonl and <domain>/valid-00000.jsonl."""
    root = tmp_path / "mini"
    for domain in ("code", "math"):
        for split in ("train", "valid"):
            rows = [{"text": f"{domain} {split} {i}", "meta": {"pile_set_name": domain, "id": i}} for i in range(3)]
            write_jsonl(root / domain / f"{split}-00000.jsonl", rows)
    (root / "manifest.json").write_text("{}")
    valid = list(hub.load_local(root, "validation"))
    assert sorted(valid) == sorted((d, f"{d} valid {i}") for d in ("code", "math") for i in range(3))
    assert list(hub.load_local(root, "valid")) == valid
    # Pile schema, non-Pile domain names: fine for a local folder
    assert len(list(hub.load_local(root, "train", domains=["math"], schema="pile"))) == 3


def test_single_file_and_explicit_data_files(tmp_path):
    path = write_jsonl(tmp_path / "one.jsonl", pile_records("train"))
    assert list(hub.load_local(path)) == expected_pile("train")
    assert list(hub.iter_documents("ignored", data_files=[path])) == expected_pile("train")


# ------------------------------------------------------------------------------------- caps


def test_per_domain_caps_honoured(pile_parquet):
    docs = list(hub.load_local(pile_parquet, "train", max_docs_per_domain=2))
    counts = {d: sum(1 for x, _ in docs if x == d) for d in PILE_DOCS}
    assert counts == {d: min(2, n) for d, n in PILE_DOCS.items()}
    # each domain keeps its first documents in file order
    assert [t for d, t in docs if d == "ArXiv"] == ["train ArXiv doc 0", "train ArXiv doc 1"]
    # a cap above a domain's size takes all of it
    docs = list(hub.load_local(pile_parquet, "train", max_docs_per_domain=4))
    assert sum(1 for d, _ in docs if d == "Pile-CC") == 4 and sum(1 for d, _ in docs if d == "Github") == 3


def test_stops_once_every_requested_domain_is_full(tmp_path):
    rows = pile_records("train")
    # a record that would raise if it were read: the stream must stop before it
    rows.insert(6, {"text": "late", "meta": {"other": "x"}})  # after P G A P G A
    folder = tmp_path / "poisoned"
    write_jsonl(folder / "train.jsonl", rows)
    docs = list(hub.load_local(folder, domains=["Pile-CC", "Github"], max_docs_per_domain=2))
    assert [d for d, _ in docs] == ["Pile-CC", "Github", "Pile-CC", "Github"]
    with pytest.raises(DataError, match="document 6"):
        list(hub.load_local(folder, domains=["Pile-CC", "Github"], max_docs_per_domain=3))


def test_bad_caps_and_domains_arguments(pile_jsonl):
    for cap in (0, -1, 2.5, True):
        with pytest.raises(DataError, match="max_docs_per_domain"):
            hub.load_local(pile_jsonl, max_docs_per_domain=cap)
    with pytest.raises(DataError, match="string 'ArXiv'"):
        hub.load_local(pile_jsonl, domains="ArXiv")


def test_zstd_jsonl_read_or_clear_error(tmp_path):
    """The Pile and SlimPajama-627B ship .jsonl.zst; reading needs the zstandard package."""
    import importlib.util

    path = tmp_path / "z" / "train" / "00.jsonl.zst"
    path.parent.mkdir(parents=True)
    lines = "".join(json.dumps(r) + "\n" for r in pile_records("train")).encode()
    if importlib.util.find_spec("zstandard") is None:
        path.write_bytes(b"not read")
        with pytest.raises(DataError, match="install the zstandard package"):
            hub.load_local(tmp_path / "z")
    else:
        import zstandard

        path.write_bytes(zstandard.ZstdCompressor().compress(lines))
        assert list(hub.load_local(tmp_path / "z")) == expected_pile("train")


def test_shuffle_is_seeded(pile_jsonl):  # JSONL: datasets sleeps 5 s after a shuffled Parquet stream
    once = list(hub.load_local(pile_jsonl, shuffle_buffer=100, seed=1))
    assert list(hub.load_local(pile_jsonl, shuffle_buffer=100, seed=1)) == once
    assert sorted(once) == sorted(expected_pile("train")) and once != expected_pile("train")


# ----------------------------------------------------------------------------------- errors


def test_missing_domain_field_is_a_clear_error(tmp_path):
    folder = tmp_path / "noschema"
    write_jsonl(folder / "train.jsonl", [{"text": "a", "meta": {"source": "web"}}])
    with pytest.raises(DataError) as err:
        list(hub.load_local(folder))
    msg = str(err.value)
    assert "'meta.pile_set_name'" in msg and "'meta.redpajama_set_name'" in msg and "meta{source}" in msg
    with pytest.raises(DataError, match=r"document 0 has no domain field 'meta.pile_set_name'"):
        list(hub.load_local(folder, schema="pile"))
    # a custom field path reads it
    assert list(hub.load_local(folder, schema="meta.source")) == [("web", "a")]


def test_domain_field_missing_mid_stream_names_the_document(tmp_path):
    rows = pile_records("train")
    rows[5] = {"text": "x", "meta": {"pile_set_name": None}}
    write_parquet(tmp_path / "p" / "train.parquet", rows)
    with pytest.raises(DataError, match=r"document 5 has no domain field 'meta.pile_set_name'"):
        list(hub.load_local(tmp_path / "p"))


def test_missing_text_field(tmp_path):
    write_jsonl(tmp_path / "t" / "train.jsonl", [{"content": "a", "meta": {"pile_set_name": "ArXiv"}}])
    with pytest.raises(DataError, match=r"document 0 \(ArXiv\) has no text field 'text'"):
        list(hub.load_local(tmp_path / "t"))


def test_requested_domain_absent_from_local_data(pile_jsonl):
    with pytest.raises(DataError, match=r"no documents for requested domains \['EuroParl'\]"):
        list(hub.load_local(pile_jsonl, domains=["ArXiv", "EuroParl"]))


def test_local_split_and_format_errors(pile_jsonl, tmp_path):
    with pytest.raises(DataError, match=r"no files for split 'test'; splits present: \['train', 'validation'\]"):
        hub.load_local(pile_jsonl, "test")
    with pytest.raises(DataError, match="unknown split 'dev2'"):
        hub.load_local(pile_jsonl, "dev2")
    with pytest.raises(DataError, match="does not exist"):
        hub.load_local(tmp_path / "nowhere")
    write_jsonl(tmp_path / "mixed" / "a.jsonl", pile_records("train"))
    write_parquet(tmp_path / "mixed" / "b.parquet", pile_records("train"))
    with pytest.raises(DataError, match="mixes JSON Lines"):
        hub.load_local(tmp_path / "mixed")
    flat = tmp_path / "flat"
    write_jsonl(flat / "shard0.jsonl", pile_records("train"))
    assert len(list(hub.load_local(flat))) == sum(PILE_DOCS.values())
    with pytest.raises(DataError, match="only 'train' exists"):
        hub.load_local(flat, "validation")


# ------------------------------------------------------------------------- registry and hub


def test_registry():
    pile, slim, slim6 = hub.DATASETS["pile"], hub.DATASETS["slimpajama"], hub.DATASETS["slimpajama-6b"]
    assert pile.hub_id == "monology/pile-uncopyrighted" and pile.domain_field == "meta.pile_set_name"
    assert len(pile.domains) == 22 and len(pile.available) == 17
    assert slim.hub_id == "cerebras/SlimPajama-627B" and slim6.hub_id == "DKYoon/SlimPajama-6B"
    assert slim.domain_field == slim6.domain_field == "meta.redpajama_set_name"
    assert sorted(slim.domains) == ["ArXiv", "Books", "C4", "CommonCrawl", "GitHub", "StackExchange", "Wikipedia"]
    for spec in hub.DATASETS.values():
        assert set(spec.splits) == {"train", "validation", "test"}


def test_registry_domains_match_published_mixtures():
    from bimix.data import mixtures

    mixtures.published("pile", "baseline").check_domains(hub.DATASETS["pile"].domains)
    mixtures.published("slimpajama", "ce").check_domains(hub.DATASETS["slimpajama"].domains)
    mixtures.published("pile", "regmix").check_domains(hub.DATASETS["pile"].available)


def test_hub_argument_errors_come_before_any_download():
    with pytest.raises(DataError, match=r"unknown domains \['Pile CC'\]"):
        hub.iter_documents("pile", domains=["Pile CC"])
    with pytest.raises(DataError, match=r"\['Books3'\] are not in this copy"):
        hub.iter_documents("pile", domains=["ArXiv", "Books3"])
    with pytest.raises(DataError, match="no split 'dev'"):
        hub.iter_documents("slimpajama", "dev")
    with pytest.raises(DataError, match="unknown source 'pil'"):
        hub.iter_documents("pil")


def test_unreachable_hub_is_a_clear_error():
    with pytest.raises(DataError, match=r"could not open 'DKYoon/SlimPajama-6B'.*HF_DATASETS_OFFLINE"):
        hub.iter_documents("slimpajama-6b", "validation", max_docs_per_domain=1)
