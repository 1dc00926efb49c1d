"""Smoke test of the compose monitoring stack: `dagger call smoke` / `python -m pipeline smoke`.

- `stack`: docker-compose.prod.yml -> service specs; config rewriting for native runs.
- `expectations`: what the running stack must show, from the repo's files.
- `probes`: the probes (HTTP only, over `http`: client and polling), shared by both executors.
- `report`: one line a probe (the lint's line shape), the verdict.
- `helpers`: the fake metrics target and the webhook sink (stdlib servers).
- `native`: starts prometheus + alertmanager from the bootstrap's binaries and probes them.
- `containers`: the same stack as Dagger services, probed from a python container
  (`probe_urls`).
- `cli`: `python -m pipeline smoke` and `python -m pipeline.smoke`.

Kept import-light: `python -m pipeline.smoke.helpers` must run with the stdlib only.
"""
