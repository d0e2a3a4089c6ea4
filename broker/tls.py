"""TLS material for a local cluster: one CA of its own and one broker certificate, as PKCS12 stores.

Made with openssl and keytool, the tools a Kafka operator would use, so nothing here is Python-only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from broker.kafka import BrokerError

KEYSTORE = "broker.keystore.p12"
TRUSTSTORE = "broker.truststore.p12"
CA = "ca.crt"
DAYS = 30


def ensure(tls: Path, store_password: str) -> Path:
    """Make the CA and a certificate valid for 127.0.0.1 (librdkafka verifies host names) unless a
    certificate valid for another day is there; returns the CA file clients trust."""
    if (tls / KEYSTORE).exists() and _run(["openssl", "x509", "-checkend", "86400", "-noout",
                                           "-in", "broker.crt"], tls, check=False).returncode == 0:
        return tls / CA
    tls.mkdir(parents=True, exist_ok=True)
    for stale in tls.iterdir():
        stale.unlink()
    (tls / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                 "extendedKeyUsage=serverAuth,clientAuth\n")
    env = {**os.environ, "STORE_PASSWORD": store_password}  # not on a command line: ps shows those
    days = str(DAYS)
    steps = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days,
         "-subj", "/CN=salesdash-test-ca", "-keyout", "ca.key", "-out", CA],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", "broker.key", "-out", "broker.csr"],
        ["openssl", "x509", "-req", "-in", "broker.csr", "-CA", CA, "-CAkey", "ca.key",
         "-CAcreateserial", "-days", days, "-extfile", "ext.cnf", "-out", "broker.crt"],
        ["openssl", "pkcs12", "-export", "-in", "broker.crt", "-inkey", "broker.key", "-certfile", CA,
         "-name", "broker", "-out", KEYSTORE, "-passout", "env:STORE_PASSWORD"],
        ["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", CA, "-keystore", TRUSTSTORE,
         "-storetype", "PKCS12", "-storepass:env", "STORE_PASSWORD"],
    ]
    for step in steps:
        _run(step, tls, env=env)
    return tls / CA


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise BrokerError(f"{command[0]} is not on PATH: the cluster's TLS material needs openssl and "
                          "keytool (Java 17+)") from None
    if check and result.returncode != 0:
        raise BrokerError(f"{command[0]} {command[1]} failed: {result.stderr.strip()[-500:]}")
    return result
