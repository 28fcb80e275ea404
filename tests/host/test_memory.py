"""host.memory: Arrow on the system allocator in flashsight's own processes, a user's choice kept."""

from __future__ import annotations

import os

import pyarrow as pa

from flashsight.host.memory import POOL_ENV, use_system_allocator


def test_arrow_goes_to_the_system_allocator(monkeypatch):
    monkeypatch.delenv(POOL_ENV, raising=False)
    before = pa.default_memory_pool()
    try:
        use_system_allocator()
        assert os.environ[POOL_ENV] == "system"  # children inherit it
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(before)


def test_a_pool_the_user_chose_is_kept(monkeypatch):
    monkeypatch.setenv(POOL_ENV, "mimalloc")
    before = pa.default_memory_pool()
    use_system_allocator()
    assert os.environ[POOL_ENV] == "mimalloc"
    assert pa.default_memory_pool().backend_name == before.backend_name
