"""The default token store lives in a directory only this user owns (SECURITY.md finding 1).

A SQLite file directly in a shared directory such as /tmp can be pre-empted: another
local user creates its ``-wal`` file (mode 0666) or a symlink first, and then reads
every token SQLite writes. The default is therefore ``$XDG_STATE_HOME/wechat_middleware``
(or ``~/.local/state/...``), created 0700 and checked with ``lstat``; when that cannot
be used, a directory of this user's own in the temporary directory, held to the same
checks. Never a file directly in /tmp.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from wechat_middleware.errors import StoreError
from wechat_middleware.stores import default_store_url, open_store
from wechat_middleware.stores.factory import private_state_dir
from wechat_middleware.stores.sqlite import SQLiteStore


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return home


def store_dir(url: str) -> Path:
    store = open_store(url)
    try:
        assert isinstance(store, SQLiteStore)
        return Path(store.path).parent
    finally:
        store.close()


def test_the_default_store_is_in_a_private_directory_of_the_state_home(state_home: Path) -> None:
    directory = store_dir(default_store_url())
    assert directory == state_home / "wechat_middleware"
    info = os.lstat(directory)
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()


def test_the_default_store_is_never_a_file_directly_in_the_temporary_directory(
    state_home: Path,
) -> None:
    assert store_dir(default_store_url()) != Path(tempfile.gettempdir())


def test_an_own_directory_open_to_others_is_closed_before_use(state_home: Path) -> None:
    (state_home / "wechat_middleware").mkdir(parents=True, mode=0o777)
    os.chmod(state_home / "wechat_middleware", 0o777)
    private_state_dir()
    assert stat.S_IMODE(os.lstat(state_home / "wechat_middleware").st_mode) == 0o700


def test_a_symlinked_state_directory_is_not_used(state_home: Path, tmp_path: Path) -> None:
    """A planted link could point anywhere another user can read."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    state_home.mkdir()
    (state_home / "wechat_middleware").symlink_to(elsewhere)
    directory = Path(private_state_dir())
    assert directory != state_home / "wechat_middleware"
    assert directory.resolve() != elsewhere.resolve()
    assert not directory.is_symlink() and stat.S_IMODE(os.lstat(directory).st_mode) == 0o700


def test_a_directory_of_another_user_is_not_used(
    state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (state_home / "wechat_middleware").mkdir(parents=True, mode=0o700)
    other_user = os.getuid() + 1  # the directory (ours) now looks like a stranger's
    monkeypatch.setattr(os, "getuid", lambda: other_user)
    with pytest.raises(StoreError, match="WECHAT_STORE") as caught:
        private_state_dir()  # the temporary-directory fallback is ours too: refused as well
    assert "another user" in str(caught.value)


def test_the_temporary_fallback_is_a_private_directory_too(
    state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_home.parent.mkdir(exist_ok=True)
    state_home.write_text("not a directory")  # the state home cannot be used
    directory = Path(private_state_dir())
    assert directory.parent == Path(tempfile.gettempdir())
    assert directory.name == f"wechat_middleware-{os.getuid()}"
    assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o700
