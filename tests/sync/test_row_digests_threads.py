"""`row_digests` hashes on cursors of DuckDB's default database: plans running in threads
(one per destination) must each get their own rows' digests, never another thread's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from connector.sync.digests import fragments, row_digests
from connector.sync.traitvalues import traits_digest


def _columns(n: int, seed: int) -> dict[str, list[str | None]]:
    return {
        "city": fragments("city", [f"town {seed}-{i % 7}" for i in range(n)], None),
        "orders": fragments("orders", [i * seed for i in range(n)], None),
    }


def test_threads_hash_their_own_rows() -> None:
    sizes = [1 + 37 * k for k in range(16)]
    expected = [
        [traits_digest({"city": f"town {k}-{i % 7}", "orders": i * k}) for i in range(n)]
        for k, n in enumerate(sizes)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            got = list(
                pool.map(lambda kn: row_digests(_columns(kn[1], kn[0]), kn[1]), enumerate(sizes))
            )
            assert got == expected
