"""The server's throwaway credentials (pipeline/kubeapi/server.py) on the real server: the ECDSA
service-account key signs tokens that the same server then accepts, and a client verifying
the serving certificate against it reaches the server under each name it is made for."""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from pipeline.kubeapi import server

pytestmark = pytest.mark.tools


def call(url: str, ca: Path, bearer: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(url, method=method, headers={
        "Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        data=json.dumps(body).encode() if body is not None else None)
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return json.load(answer)


def test_a_service_account_token_is_signed_es256_and_authenticates(kube_apiserver):
    url, ca, admin = server.read_kubeconfig(kube_apiserver)
    name = f"lint-probe-{secrets.token_hex(4)}"
    accounts = f"{url}/api/v1/namespaces/default/serviceaccounts"
    call(accounts, ca, admin, "POST", {"metadata": {"name": name}})
    issued = call(f"{accounts}/{name}/token", ca, admin, "POST",
                  {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    token = issued["status"]["token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "ES256", header
    review = call(f"{url}/apis/authentication.k8s.io/v1/selfsubjectreviews", ca, token, "POST",
                  {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:default:{name}"


def test_the_serving_certificate_is_ecdsa_p256_for_every_name_of_the_server(kube_apiserver):
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           str(kube_apiserver.parent / server.CERT)],
                          check=True, capture_output=True, text=True).stdout
    assert "id-ecPublicKey" in text and "prime256v1" in text, text
    names = text.split("X509v3 Subject Alternative Name:")[1].splitlines()[1]
    assert names.strip() == "IP Address:127.0.0.1, DNS:localhost, DNS:kube-apiserver"
    url, ca, admin = server.read_kubeconfig(kube_apiserver)
    port = url.rsplit(":", 1)[1]
    # The same server by its other loopback name: the certificate's DNS names verify too.
    assert call(f"https://localhost:{port}/version", ca, admin)["gitVersion"]
