"""Smoke test of the compose monitoring stack: `dagger call smoke` / `python -m pipeline smoke`.

- `stack`: docker-compose.prod.yml -> service specs; config rewriting for native runs.
- `checks`: the checks (HTTP only, stdlib only), shared by both executors.
- `helpers`: the fake metrics target and the webhook sink (stdlib servers).
- `native`: starts prometheus + alertmanager from the bootstrap's binaries and runs the checks.
- `containers`: the same stack as Dagger services, checks run from a python container.

Kept import-light: `python -m pipeline.smoke.helpers` must run with the stdlib only.
"""
