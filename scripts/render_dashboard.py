"""Take docs/dashboard.png: the Grafana dashboard's panels, drawn from a real broker's /metrics.

Grafana is not packaged for Debian (nor on npm), so this draws the panels itself: it starts
``cloud-broker serve --sandbox`` as a real process, drives it as agents and an approver would
(auto-approved reads, writes approved or denied in the console after a wait, denied requests,
an agent listening for events), scrapes ``/metrics`` every few seconds, evaluates each panel's
queries from ``docs/grafana/cloud-broker.json`` on the scrapes (``promql_subset``), writes the
panels as SVG into an HTML page and photographs it with Debian's Chromium through Playwright.

    PYTHONPATH=src python scripts/render_dashboard.py [--minutes 3] [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from promql_subset import Scrape, Vector, evaluate

from cloud_broker.cli.sandbox_process import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "docs" / "grafana" / "cloud-broker.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
STEP_SECONDS = 5.0
READ = {"actions": ["s3:GetObject", "s3:ListBucket"], "resources": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"],
        "regions": ["us-east-1"]}
WRITE = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/uploads/*"], "regions": ["us-east-1"]}
DENIED = {"actions": ["iam:PassRole"], "resources": ["*"], "regions": ["us-east-1"]}
COLOURS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#ffb357"]


class Traffic:
    """An agent and an approver using the sandbox over HTTP, as the published client and a
    person at the console would."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.info = sandbox.info
        self.api = httpx.Client(base_url=self.info["api_url"], timeout=60, trust_env=False)
        token = self.api.post("/host/exchange", json={"host_key": self.info["host_api_key"]}).json()["token"]
        self.auth = {"Authorization": f"Bearer {token}"}
        self.console = httpx.Client(base_url=self.info["console_url"].rstrip("/"), timeout=60, trust_env=False)
        password = (sandbox.state_dir / "console-password").read_text().strip()
        self.console.post("/login", data={"name": "sandbox-approver", "password": password, "next": "/"})
        self.waiting: list[tuple[str, int]] = []  # (grant id, the step at which to decide it)

    def request(self, scope: dict[str, Any]) -> dict[str, Any]:
        body = {"account_id": self.info["account_id"], "agent_id": self.info["agent_id"],
                "run_id": str(uuid.uuid4()), "reason": "nightly report", **scope}
        return self.api.post("/aws/grants", json=body, headers=self.auth).json()  # type: ignore[no-any-return]

    def step(self, n: int, rng: random.Random) -> None:
        for _ in range(rng.randint(1, 4)):
            grant = self.request(READ)
            query = {"agent_id": self.info["agent_id"]}
            self.api.post(f"/aws/grants/{grant['grant_id']}/credentials", params=query, headers=self.auth)
            if rng.random() < 0.5:
                self.api.post(f"/aws/grants/{grant['grant_id']}/release", params=query, headers=self.auth)
        if rng.random() < 0.6:
            self.waiting.append((self.request(WRITE)["grant_id"], n + rng.randint(1, 5)))
        if rng.random() < 0.2:
            self.request(DENIED)
        for grant_id, due in [w for w in self.waiting if w[1] <= n]:
            self.decide(grant_id, "approve" if rng.random() < 0.8 else "deny")
            self.waiting.remove((grant_id, due))

    def decide(self, grant_id: str, verdict: str) -> None:
        """Submit the grant page's approve form as shown (every item kept, the full TTL), or deny."""
        page = self.console.get(f"/grants/{grant_id}").text
        form = re.search(rf'action="[^"]*/{verdict}".*?</form>', page, re.DOTALL)
        if form is None:
            return
        fields: dict[str, list[str]] = {"reason": ["not now"]}
        for name, value in re.findall(r'<input type="(?:hidden|checkbox|number)" name="([^"]+)"[^>]*?value="([^"]*)"',
                                      form.group(0)):
            fields.setdefault(html.unescape(name), []).append(html.unescape(value))
        response = self.console.post(f"/grants/{grant_id}/{verdict}", data=fields)
        if response.status_code >= 400:
            raise RuntimeError(f"the console refused to {verdict}: {response.status_code}")

    def listen(self, seconds: float) -> None:
        """One agent holding the event stream open for a while (the streams gauge)."""
        deadline = time.monotonic() + seconds
        query = {"agent_id": self.info["agent_id"]}
        try:
            with self.api.stream("GET", "/events", params=query, headers=self.auth) as stream:
                for _ in stream.iter_bytes():
                    if time.monotonic() > deadline:
                        break
        except httpx.HTTPError:
            pass  # the sandbox stopped first: the last scrape is taken


def scrape(api: httpx.Client, started: float) -> Scrape:
    series: dict[str, Vector] = {}
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for sample in family.samples:
            series.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return time.monotonic() - started, series


def collect(minutes: float, seed: int) -> list[Scrape]:
    rng = random.Random(seed)
    with SandboxProcess(extra_args=("--sandbox-rate", "1000")) as sandbox:
        traffic = Traffic(sandbox)
        started, scrapes = time.monotonic(), []
        steps = int(minutes * 60 / STEP_SECONDS)
        for n in range(steps):
            if n in (steps // 4, steps // 2):  # two agents listen from then on, until the last scrape
                threading.Thread(target=traffic.listen, args=(STEP_SECONDS * (steps - n + 2),), daemon=True).start()
            tick = time.monotonic()
            traffic.step(n, rng)
            scrapes.append(scrape(traffic.api, started))
            time.sleep(max(0.0, STEP_SECONDS - (time.monotonic() - tick)))
    return scrapes


def panel_series(panel: dict[str, Any], scrapes: list[Scrape]) -> dict[str, list[float | None]]:
    lines: dict[str, list[float | None]] = {}
    for target in panel["targets"]:
        for at in range(len(scrapes)):
            for labels, value in evaluate(target["expr"], scrapes, at).items():
                lines.setdefault(legend(target["legendFormat"], dict(labels)), [None] * len(scrapes))[at] = value
    return lines


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` substitution."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: labels.get(m.group(1), ""), template).strip()


def shown(value: float, unit: str) -> str:
    if unit == "s":
        if value < 0.01:
            return f"{value * 1000:.2f} ms" if value else "0"
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"
    suffix = "/s" if unit == "ops" else ""
    return f"{value:.2f}{suffix}" if value != int(value) and abs(value) < 10 else f"{value:.0f}{suffix}"


def svg_chart(lines: dict[str, list[float | None]], times: list[float], unit: str) -> str:
    width, height, left, bottom = 430, 190, 62, 22
    values = [v for series in lines.values() for v in series if v is not None]
    top = max(values, default=0.0) * 1.15 or 1.0
    span = (times[-1] - times[0]) or 1.0

    def xy(t: float, v: float) -> str:
        return f"{left + (t - times[0]) / span * (width - left - 8):.1f},{(height - bottom) * (1 - v / top) + 4:.1f}"

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i in range(5):
        v = top * i / 4
        y = (height - bottom) * (1 - v / top) + 4
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{shown(v, unit)}</text>')
    for minute in range(int(span // 60) + 1):
        x = left + minute * 60 / span * (width - left - 8)
        parts.append(f'<text x="{x:.1f}" y="{height - 4}" class="tick" text-anchor="middle">{minute} min</text>')
    for colour, series in zip(COLOURS, lines.values(), strict=False):
        points = " ".join(xy(t, v) for t, v in zip(times, series, strict=True) if v is not None)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def panel_html(panel: dict[str, Any], scrapes: list[Scrape]) -> str:
    lines = panel_series(panel, scrapes)
    unit = panel["fieldConfig"]["defaults"]["unit"]
    queries = "".join(f"<code>{html.escape(t['expr'])}</code>" for t in panel["targets"])
    if panel["type"] == "stat":
        last = [next((v for v in reversed(s) if v is not None), 0.0) for s in lines.values()]
        body = f'<div class="stat">{shown(sum(last), unit) if last else "0"}</div>'
    else:
        legend = "".join(f'<span><i style="background:{c}"></i>{html.escape(n)}</span>'
                         for c, n in zip(COLOURS, lines, strict=False)) or "<span>no data</span>"
        body = svg_chart(lines, [t for t, _ in scrapes], unit) + f'<div class="legend">{legend}</div>'
    return f'<section><h2>{html.escape(panel["title"])}</h2>{body}<div class="q">{queries}</div></section>'


PAGE = """<!doctype html><meta charset="utf-8"><style>
body {{ background:#111217; color:#ccccdc; font:13px Inter, "DejaVu Sans", sans-serif; margin:16px; }}
h1 {{ font-size:18px; margin:0 0 12px; }} h1 small {{ color:#8e8e9e; font-weight:normal; }}
main {{ display:grid; grid-template-columns:repeat(3, 450px); gap:10px; }}
section {{ background:#181b1f; border:1px solid #2c3235; border-radius:3px; padding:8px 10px; }}
h2 {{ font-size:13px; margin:0 0 6px; font-weight:500; }}
.grid {{ stroke:#2c3235; }} .tick {{ fill:#8e8e9e; font-size:10px; }}
.legend span {{ margin-right:12px; font-size:11px; }} .legend i {{ display:inline-block; width:12px; height:3px;
  margin:0 5px 3px 0; }}
.stat {{ font-size:44px; color:#73bf69; text-align:center; padding:40px 0 46px; }}
.q code {{ display:block; color:#6e9fff; font-size:9.5px; margin-top:3px; white-space:pre-wrap; }}
</style><h1>{title} <small>{minutes:.0f} minutes of a sandbox broker, scraped every {step:.0f} s</small></h1>
<main>{panels}</main>"""


def photograph(page: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1420, "height": 900}, device_scale_factor=1)
        tab.goto(page.as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: Chromium is needed at {CHROMIUM} (Debian package 'chromium')", file=sys.stderr)
        return 1
    dashboard = json.loads(DASHBOARD.read_text())
    scrapes = collect(args.minutes, args.seed)
    panels = "".join(panel_html(panel, scrapes) for panel in dashboard["panels"])
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "dashboard.html"
        page.write_text(PAGE.format(title=html.escape(dashboard["title"]), minutes=args.minutes, step=STEP_SECONDS,
                                    panels=panels), encoding="utf-8")
        photograph(page, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
