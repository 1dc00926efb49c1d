"""The API server of lint: its credentials and the argv of etcd and kube-apiserver.

Both executors start the same two processes with the argv below; only where they
listen differs (loopback ports natively, the Dagger service network otherwise):

    python -m pipeline.kubeapi.server credentials DIR      serving cert + key, service-account
                                                           key, static token (openssl, stdlib)
    python -m pipeline.kubeapi.server kubeconfig DIR URL   DIR/kubeconfig for that server

The flags follow the facts of /work/shared/notes/tools.md ("kube-apiserver, kubectl,
etcd") and kube-apiserver's own flag docs: RBAC authorization with a static
`system:masters` token, no endpoint reconciler (there are no nodes), and
`--allow-privileged=true` so that a privileged pod is rejected by Pod Security, the
admission under test, and not by the privileged flag. All admission plugins keep
their defaults (PodSecurity and ServiceAccount included), as in a real cluster.
"""

from __future__ import annotations

import argparse
import json
import secrets
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

CERT, KEY, SA_KEY, TOKENS, KUBECONFIG = ("serving.crt", "serving.key", "service-account.key",
                                        "tokens.csv", "kubeconfig")
USER = "lint"
# Names the serving certificate answers to: loopback natively, the service alias in Dagger.
HOSTS = ("127.0.0.1", "localhost", "kube-apiserver")
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
READY_TIMEOUT_SECONDS = 120
# ECDSA P-256 keys, not RSA 2048: openssl makes both in 0.01 s of CPU instead of 0.1-0.5 s
# (RSA prime search), and each TLS handshake signs with the cheaper key. kube-apiserver
# v1.37.2 takes them for both uses: --service-account-key-file reads "PEM-encoded x509 RSA
# or ECDSA private or public keys" (pkg/kubeapiserver/options/authentication.go), and the
# token signer behind --service-account-signing-key-file accepts an *ecdsa.PrivateKey and
# signs ES256 with a P-256 one (pkg/serviceaccount/jwt.go: JWTTokenGenerator,
# signerFromECDSAPrivateKey); Go's TLS serves an ECDSA certificate.


class NotReady(Exception):
    """The server did not answer /readyz in time (or its process ended)."""


def make_credentials(directory: Path) -> None:
    """A self-signed serving certificate, a service-account key and a static admin token.

    Throwaway material for a server that lives only as long as one lint run. The token
    is written to files only (never to an argv or a log).
    """
    directory.mkdir(parents=True, exist_ok=True)
    san = ",".join(f"IP:{h}" if h[0].isdigit() else f"DNS:{h}" for h in HOSTS)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=kube-apiserver", "-addext", f"subjectAltName={san}",
             "-keyout", str(directory / KEY), "-out", str(directory / CERT))
    # SEC1 ("EC PRIVATE KEY"), not genpkey's PKCS#8: --service-account-key-file parses an EC
    # private key with x509.ParseECPrivateKey only (client-go v0.37.2 util/keyutil/key.go,
    # ParsePublicKeysPEM), and rejects a PKCS#8 one ("does not contain any valid RSA or
    # ECDSA public keys").
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(directory / SA_KEY))
    tokens = directory / TOKENS
    tokens.touch(mode=0o600)
    tokens.write_text(f'{secrets.token_hex(24)},{USER},{USER},"system:masters"\n')


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def token(directory: Path) -> str:
    return (directory / TOKENS).read_text().split(",", 1)[0]


def write_kubeconfig(directory: Path, server: str) -> Path:
    """DIR/kubeconfig for `server`; the CA path is relative, so DIR may be mounted anywhere."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "lint",
        "clusters": [{"name": "lint", "cluster": {"server": server, "certificate-authority": CERT}}],
        "users": [{"name": USER, "user": {"token": token(directory)}}],
        "contexts": [{"name": "lint", "context": {"cluster": "lint", "user": USER}}],
    }
    path = directory / KUBECONFIG
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def etcd_argv(data_dir: str, listen_host: str, client_port: int, peer_port: int) -> list[str]:
    """A single-member etcd; peers advertise loopback (no other member ever dials it)."""
    peer = f"http://127.0.0.1:{peer_port}"
    return ["etcd", "--name", "lint", "--data-dir", data_dir,
            "--listen-client-urls", f"http://{listen_host}:{client_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{client_port}",
            "--listen-peer-urls", f"http://{listen_host}:{peer_port}",
            "--initial-advertise-peer-urls", peer, "--initial-cluster", f"lint={peer}",
            "--log-level", "warn",
            # A throwaway store: durability buys nothing, fsync costs seconds on a busy disk.
            "--unsafe-no-fsync"]


def apiserver_argv(credentials: str, etcd_url: str, bind_address: str, port: int) -> list[str]:
    return ["kube-apiserver",
            f"--bind-address={bind_address}", f"--secure-port={port}",
            f"--etcd-servers={etcd_url}",
            f"--tls-cert-file={credentials}/{CERT}", f"--tls-private-key-file={credentials}/{KEY}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={credentials}/{SA_KEY}",
            f"--service-account-signing-key-file={credentials}/{SA_KEY}",
            f"--token-auth-file={credentials}/{TOKENS}",
            "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--service-cluster-ip-range=10.96.0.0/12",
            # Request queueing and profiling serve a shared cluster, not one lint run.
            "--enable-priority-and-fairness=false", "--profiling=false"]


def wait_ready(server: str, ca_file: Path, bearer: str, timeout: float = READY_TIMEOUT_SECONDS,
               alive: Callable[[], str | None] = lambda: None) -> str:
    """Poll /readyz until it answers 200; return the server's gitVersion.

    `alive` returns why the server cannot become ready (its process ended), else None.
    """
    context = ssl.create_default_context(cafile=str(ca_file))
    headers = {"Authorization": f"Bearer {bearer}"}
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        dead = alive()
        if dead:
            raise NotReady(dead)
        try:
            request = urllib.request.Request(f"{server}/readyz", headers=headers)
            with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                if answer.status == 200:
                    version = urllib.request.Request(f"{server}/version", headers=headers)
                    with urllib.request.urlopen(version, context=context, timeout=5) as info:
                        return json.load(info)["gitVersion"]
        except (urllib.error.URLError, OSError) as error:
            last = str(getattr(error, "reason", error))
        time.sleep(0.25)
    raise NotReady(f"{server}/readyz did not answer 200 within {timeout:.0f}s (last: {last})")


def read_kubeconfig(path: Path) -> tuple[str, Path, str]:
    """(server URL, CA file, token) of a kubeconfig written by `write_kubeconfig`."""
    config = yaml.safe_load(path.read_text())
    cluster = config["clusters"][0]["cluster"]
    return (cluster["server"], path.parent / cluster["certificate-authority"],
            config["users"][0]["user"]["token"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.kubeapi.server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("credentials").add_argument("dir", type=Path)
    kubeconfig = commands.add_parser("kubeconfig")
    kubeconfig.add_argument("dir", type=Path)
    kubeconfig.add_argument("server")
    args = parser.parse_args(argv)
    if args.command == "credentials":
        make_credentials(args.dir)
    else:
        write_kubeconfig(args.dir, args.server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
