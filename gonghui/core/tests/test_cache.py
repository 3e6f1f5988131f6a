"""The Redis cache backend that keeps one client per pool (production's cache)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import redis

from gonghui.core.cache import RedisCache

URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def cache() -> Iterator[RedisCache]:
    try:
        redis.Redis.from_url(URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {URL}")
    backend = RedisCache(URL, {"KEY_PREFIX": "gonghui-test-cache"})
    yield backend
    backend.clear()


def test_it_is_the_django_backend_with_one_client_per_pool(cache: RedisCache) -> None:
    client = cache._cache.get_client("a")
    assert cache._cache.get_client("b") is client  # not a new redis.Redis per call
    cache.set("k", {"v": 1}, 30)
    assert cache.get("k") == {"v": 1}
    assert cache.add("k", 2) is False
    assert cache.add("n", 0) is True
    assert cache.incr("n") == 1
    cache.delete("k")
    assert cache.get("k") is None


def test_threads_share_the_client_safely(cache: RedisCache) -> None:
    cache.set("count", 0)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(200):
                cache.incr("count")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.get("count") == 1600
