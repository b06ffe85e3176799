"""Secrets at rest, against real gateway processes: a copy of the database reveals no credential, the files are
owner-only, the key opens every secret again after a restart and after a rotation, and a wrong key stops the
start with one clear line."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from callbridge.store import SecretBox
from tests.support.at_rest import (
    TOKEN,
    assert_secrets_usable,
    cli,
    copy_reveals,
    provision,
    sealed_values,
)
from tests.support.gateway import GatewayProcess
from tests.support.graph import GraphStandIn
from tests.support.net import free_port
from tests.support.receiver import Receiver

ADMIN_TOKEN = "secrets-at-rest-admin-token"


def gateway(workdir: Path, database_url: str | None = None, **settings: str) -> GatewayProcess:
    """A gateway that, unless told its key, makes one in its data dir (not the tests' shared key)."""
    return GatewayProcess(workdir, database_url, admin_token=ADMIN_TOKEN, log_level="DEBUG", **settings)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.store
def test_a_copy_of_the_database_reveals_no_credential_and_a_restart_reads_them_all(
    tmp_path: Path, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    with gateway(tmp_path, database_url) as gw:
        provision(gw, graph, receiver)
        assert_secrets_usable(gw, graph, receiver, database_url)
        assert copy_reveals(database_url) == []  # while it runs: the WAL holds the newest pages
        gw.restart()  # the same key, from the data dir
        assert_secrets_usable(gw, graph, receiver, database_url)
    assert copy_reveals(database_url) == []  # stopped: everything checkpointed into the file


def test_the_data_dir_the_database_files_and_the_keys_are_owner_only(
    tmp_path: Path, graph: GraphStandIn, receiver: Receiver
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # as an older version left it, with its database
    (data / "callbridge.db").touch(mode=0o644)
    with gateway(tmp_path) as gw:  # SQLite in the data dir, as deployed by default
        provision(gw, graph, receiver)  # the first writes
        assert mode(data) == 0o700
        files = ("callbridge.db", "callbridge.db-wal", "callbridge.db-shm", "secret_key", "call_token_key")
        assert {name: oct(mode(data / name)) for name in files} == {name: oct(0o600) for name in files}

    fresh = tmp_path / "fresh"
    with gateway(fresh) as gw:
        assert mode(fresh / "data") == 0o700
        assert mode(fresh / "data" / "callbridge.db") == 0o600


@pytest.mark.store
def test_rotation_re_encrypts_everything_and_retires_the_old_key(
    tmp_path: Path, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = gateway(tmp_path, database_url)
    key_file = tmp_path / "data" / "secret_key"
    try:
        gw.start()
        provision(gw, graph, receiver)
        gw.stop()  # rotation rewrites the database: the gateway is stopped first
        [old] = key_file.read_text().split()

        rotated = cli("secrets", "rotate", data_dir=str(tmp_path / "data"), database_url=database_url)
        assert rotated.returncode == 0, rotated.stderr
        assert "re-encrypted 3 secrets" in rotated.stdout
        [new] = key_file.read_text().split()
        assert new != old and mode(key_file) == 0o600

        sealed = asyncio.run(sealed_values(database_url))
        assert len(sealed) == 3  # the token, the Cloud credentials, the webhook secret
        for value in sealed:
            with pytest.raises(InvalidToken):
                Fernet(old).decrypt(value)
            Fernet(new).decrypt(value)

        gw.start()
        assert_secrets_usable(gw, graph, receiver, database_url)
    finally:
        gw.close()


@pytest.mark.store
def test_a_wrong_key_stops_the_start_with_one_clear_line(
    tmp_path: Path, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    key = SecretBox.new_key()
    with gateway(tmp_path / "first", database_url, secret_key=key) as gw:
        provision(gw, graph, receiver)

    def serve(secret_key: str) -> tuple[int, str]:
        settings = {"data_dir": str(tmp_path / "second"), "port": str(free_port()), "database_url": database_url}
        done = cli("serve", secret_key=secret_key, **settings)
        return done.returncode, done.stdout + done.stderr

    code, output = serve(SecretBox.new_key())
    assert code == 2, output
    assert "error: the secret key does not decrypt sessions." in output
    assert "read from CALLBRIDGE_SECRET_KEY" in output
    assert "Traceback" not in output

    code, output = serve("not-a-fernet-key")
    assert code == 2, output
    assert "is not a Fernet key" in output and "Traceback" not in output

    with gateway(tmp_path / "third", database_url, secret_key=key) as gw:  # the right key opens it again
        assert gw.get("/session/status", token=TOKEN).status_code == 200
