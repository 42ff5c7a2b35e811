"""The configuration an upload reads: the hostnames the merge does not deduplicate by are
kept per process by (version, saved at), so a save is seen on the next upload and a
database made anew (its version 1 another document) is not answered from the old one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from nps_hub import config_store, db
from nps_hub.configuration import AssetConfig


def config(*names: str) -> AssetConfig:
    return AssetConfig.model_validate({"general": {"dedupe_excluded_hostnames": list(names)}})


def test_a_saved_version_is_read_on_the_next_upload(tmp_path: Path) -> None:
    engine = db.engine_for(f"sqlite:///{tmp_path}/one.sqlite3")
    db.migrate(engine)
    with Session(engine) as s:
        assert config_store.excluded_hostnames(s) == [] and config_store.newest(s) is None
        config_store.save(s, config("localhost"), "admin")
        assert config_store.excluded_hostnames(s) == ["localhost"]
        config_store.excluded_hostnames(s).append("changed by a caller")
        assert config_store.excluded_hostnames(s) == ["localhost"]
        config_store.save(s, config("localhost", "android"), "admin")
        assert config_store.excluded_hostnames(s) == ["localhost", "android"]
        assert (newest := config_store.newest(s)) is not None and newest.version == 2


def test_a_database_made_anew_is_not_answered_from_the_old_one(tmp_path: Path) -> None:
    for name, host in (("one", "localhost"), ("two", "iphone")):
        engine = db.engine_for(f"sqlite:///{tmp_path}/{name}.sqlite3")
        db.migrate(engine)
        with Session(engine) as s:
            assert config_store.save(s, config(host), "admin") == 1
            assert config_store.excluded_hostnames(s) == [host]
