"""Load a page in headless Chromium (Debian's `chromium`) and report what a listener would meet:
each <audio>'s duration or error, each <img>'s width (0: did not load), and the console's messages.

The page is loaded in an iframe of a small harness page that waits for every player's metadata
and every picture, then writes what it found into its own DOM, which Chromium prints
(--dump-dom); console messages come from Chromium's log on stderr.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

HARNESS = """<!doctype html><html><body><pre id="result">pending</pre>
<iframe id="f" src="%s" width="1200" height="800"></iframe>
<script>
const f = document.getElementById("f");
f.onload = async () => {
  const d = f.contentDocument, audio = [], images = [];
  const players = [...d.querySelectorAll("audio")];
  await Promise.all(players.map(a => a.readyState >= 1 ? null : new Promise(r => {
    a.addEventListener("loadedmetadata", r); a.addEventListener("error", r); a.load(); })));
  for (const a of players) audio.push([a.getAttribute("src"), a.error ? -1 : a.duration]);
  const pictures = [...d.querySelectorAll("img")];
  await Promise.all(pictures.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })));
  for (const i of pictures) images.push([i.getAttribute("src"), i.naturalWidth]);
  document.getElementById("result").textContent = JSON.stringify({audio, images});
};
</script></body></html>"""


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_page(path, budget_ms=20000):
    """{"audio": [[src, seconds or -1]], "images": [[src, width]], "console": [messages]} of the page at `path`."""
    page = "file://" + os.path.abspath(path)
    with tempfile.TemporaryDirectory() as tmp:
        harness = os.path.join(tmp, "harness.html")
        with open(harness, "w") as f:
            f.write(HARNESS % page)
        run = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--allow-file-access-from-files",
                f"--user-data-dir={tmp}/profile",
                f"--virtual-time-budget={budget_ms}",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                "file://" + harness,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    found = re.search(r'<pre id="result">(.*?)</pre>', run.stdout, re.S)
    if not found or found.group(1) == "pending":
        raise AssertionError(f"the page did not finish loading in Chromium: {run.stdout[-500:]} {run.stderr[-500:]}")
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    result["console"] = re.findall(r"CONSOLE[^\]]*\] (.*)", run.stderr)
    return result
