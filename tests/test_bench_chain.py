"""The durable chain of `python -m bench.floor`: each hop's write is committed before the next hop
is sent, in the round trips its mode says."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

import bench.chain as chain


@pytest.fixture
def hops_table(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    monkeypatch.setenv("BENCH_CHAIN_DATABASE_URL", postgres_url)
    monkeypatch.setattr(chain, "_database", [])
    reader = psycopg.connect(postgres_url, autocommit=True)
    reader.execute("DROP TABLE IF EXISTS bench_chain_hops")
    yield reader
    for connection in chain._database:
        connection.close()
    reader.execute("DROP TABLE IF EXISTS bench_chain_hops")
    reader.close()


@pytest.mark.parametrize("durable", [1, 2])
def test_each_hop_commits_its_row(
    hops_table: psycopg.Connection[tuple[object, ...]], durable: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain, "DURABLE", durable)
    for remaining in (3, 2, 1):
        chain._written(remaining, 1234.5)
        # Seen from another connection at once: committed, not left in an open transaction.
        rows = hops_table.execute(
            "SELECT hop FROM bench_chain_hops WHERE chain = 1234.5 ORDER BY hop"
        ).fetchall()
        assert [hop for (hop,) in rows] == list(range(remaining, 4))
    assert chain._database[0].info.transaction_status == psycopg.pq.TransactionStatus.IDLE
