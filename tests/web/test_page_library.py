"""The page library's own timing rules, run in Node with a stand-in window (no browser needed):
no acknowledgement means no extension; an acknowledged request that stays unanswered is a
timeout (and is cancelled); an acknowledged and answered one resolves.

The real extension's acknowledgement is exercised by every Chromium test (tests/web/test_browser.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from bed_support import require

LIBRARY = Path(__file__).resolve().parents[2] / "src" / "sitoken" / "web" / "static" / "sitoken-web.js"

# A window whose postMessage delivers to its listeners asynchronously, as a browser does; the
# "extension" is a listener the scenario installs (or not).
HARNESS = r"""
const fs = require("fs");
const listeners = [];
const posted = [];
const window = {
  location: { origin: "https://portal.test" },
  addEventListener: (type, f) => listeners.push(f),
  postMessage: (data) => {
    posted.push(data);
    setTimeout(() => listeners.forEach((f) => f({ source: window, data })));
  },
};
new Function("window", fs.readFileSync(process.argv[2], "utf8"))(window);
const scenario = process.argv[3];
if (scenario !== "none") {
  listeners.push((event) => {
    const d = event.data;
    if (d.sitoken !== "request") return;
    window.postMessage({ sitoken: "received", id: d.id });
    if (scenario === "answers") window.postMessage({ sitoken: "reply", id: d.id, reply: { ok: true, result: 42 } });
  });
}
const started = Date.now();
window.sitoken.status({ timeoutMs: Number(process.argv[4]) }).then(
  (result) => console.log(JSON.stringify({ ok: true, result, posted: posted.map((p) => p.sitoken) })),
  (e) => console.log(JSON.stringify({ ok: false, code: e.code, ms: Date.now() - started,
                                      posted: posted.map((p) => p.sitoken) })));
"""


def _run(tmp_path: Path, scenario: str, timeout_ms: int) -> dict[str, object]:
    node = shutil.which("node") or shutil.which("nodejs")
    require(node is not None, "Node.js (Debian package nodejs)")
    assert node is not None
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    done = subprocess.run([node, str(harness), str(LIBRARY), scenario, str(timeout_ms)], capture_output=True,
                          text=True, timeout=60, check=True)
    outcome: dict[str, object] = json.loads(done.stdout)
    return outcome


def test_no_acknowledgement_is_no_extension(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "none", 400)
    assert outcome["ok"] is False and outcome["code"] == "no-extension"


def test_an_acknowledged_request_left_unanswered_times_out_and_is_cancelled(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "silent", 400)
    assert outcome["ok"] is False and outcome["code"] == "timeout"
    assert outcome["posted"][-1] == "cancel"  # type: ignore[index]


def test_an_acknowledged_and_answered_request_resolves(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "answers", 400)
    assert outcome == {"ok": True, "result": 42, "posted": ["request", "received", "reply"]}
