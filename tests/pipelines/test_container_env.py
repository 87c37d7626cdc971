"""What a task or server container is given (no Docker needed): only the service settings, and a loopback
relay in front of the embedded Postgres' unix socket, which another uid could not open."""

import socket
import socketserver
import threading

import pytest

from loyaltylens.config import Settings
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.kfp_runner.containers import UnixSocketRelay, container_service_env, require_services, service_env


def test_only_service_settings_reach_a_container(tmp_path):
    settings = Settings(
        data_dir=tmp_path, mlflow_tracking_uri="http://127.0.0.1:5000", s3_secret_access_key="s3cret", n_customers=99
    )
    env = service_env(settings)
    assert env["LOYALTYLENS_MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert env["LOYALTYLENS_S3_SECRET_ACCESS_KEY"] == "s3cret"  # unwrapped, not "**********"
    assert "LOYALTYLENS_N_CUSTOMERS" not in env and "LOYALTYLENS_DATA_DIR" not in env


def test_containers_need_the_services(tmp_path):
    with pytest.raises(LoyaltyLensError, match="mlflow_tracking_uri, feature_store_uri, postgres_url"):
        require_services(Settings(data_dir=tmp_path))


class _Echo(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.readline().upper())


def test_the_relay_carries_bytes_both_ways_and_points_the_settings_at_itself(tmp_path):
    socket_dir = tmp_path / "pg"
    socket_dir.mkdir()
    server = socketserver.ThreadingUnixStreamServer(str(socket_dir / ".s.PGSQL.5432"), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(
        data_dir=tmp_path,
        postgres_url=f"postgresql://postgres:@/loyaltylens?host={socket_dir}",
        feature_store_catalog=f"postgres:dbname=loyaltylens host={socket_dir} user=postgres",
    )
    try:
        with container_service_env(settings) as env:
            url = env["LOYALTYLENS_POSTGRES_URL"]
            assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/loyaltylens")
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            assert env["LOYALTYLENS_FEATURE_STORE_CATALOG"] == (
                f"postgres:dbname=loyaltylens host=127.0.0.1 port={port} user=postgres"
            )
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"select 1\n")
                assert client.makefile("rb").readline() == b"SELECT 1\n"
    finally:
        server.shutdown()
        server.server_close()


def test_a_tcp_postgres_needs_no_relay(tmp_path):
    settings = Settings(data_dir=tmp_path, postgres_url="postgresql://postgres@db:5432/loyaltylens")
    with container_service_env(settings) as env:
        assert env["LOYALTYLENS_POSTGRES_URL"] == "postgresql://postgres@db:5432/loyaltylens"


def test_unix_socket_relay_closes_a_client_when_the_socket_is_gone(tmp_path):
    with UnixSocketRelay(tmp_path / "missing.sock") as relay:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as client:
            assert client.recv(1) == b""
