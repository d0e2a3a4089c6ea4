"""`python -m app --workers N` misused: one `error:` line and a non-zero exit, before any process starts."""

from __future__ import annotations

import socket

import pytest

from app.__main__ import main as app_main


@pytest.mark.parametrize("workers", ["0", "-1", "65", "two", ""])
def test_a_bad_worker_count_is_one_error_line(workers: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        app_main(["--workers", workers])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--workers" in err


def test_a_port_taken_by_another_server_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            app_main(["--workers", "2", "--port", str(port)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and err.count("\n") == 1
