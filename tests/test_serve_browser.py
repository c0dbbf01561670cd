"""End-to-end tests of the explorer: the real `vaekit serve` in a subprocess, driven by Debian's
chromium through chromedriver + selenium. Screenshots go to ``test-artifacts/serve-browser/``
(git-ignored). Skipped, with the reason, only where chromium or chromedriver is not installed
(`.ci/run` installs them: `apt-get install chromium chromium-driver`)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serve_helpers import serve_runs

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "serve-browser"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return serve_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def server(runs):
    """`vaekit serve` on a free port (--port 0), in its own process; yields the address it printed."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaekit", "serve", str(runs["digits"]), str(runs["cvae"]), str(runs["table"]),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        proc.kill()
        pytest.fail(f"vaekit serve did not print its address: {line!r} {proc.stderr.read()}")
    yield match.group(0)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="vaekit-chromium-")
    # Without the networking flags chromium stalls on the closed network (update and sync checks).
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,2200"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(fn, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def open_page(driver, server: str, run: str = "0") -> None:
    driver.get(f"{server}?run={run}")
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready") == "1", what="the page to load")
    wait_for(lambda: driver.execute_script("return document.body.dataset.run") == run, what=f"run {run}")
    wait_for(lambda: int(driver.find_element("id", "decoded").get_attribute("data-version")) >= 1,
             what="the first decoded picture")


def error_text(driver) -> str:
    box = driver.find_element("id", "error")
    return box.text if box.is_displayed() else ""


PIXELS_JS = """
const img = document.getElementById(arguments[0]);
if (!img.complete || !img.naturalWidth) return null;
const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
"""


def pixels(driver, element_id: str) -> np.ndarray:
    return np.asarray(wait_for(lambda: driver.execute_script(PIXELS_JS, element_id), what=f"{element_id} pixels"))


def test_page_loads_with_runs_map_and_legend(browser, server):
    open_page(browser, server)
    options = [o.text for o in browser.find_elements("css selector", "#run-select option")]
    assert len(options) == 3 and options[0].startswith("digits") and "table" in options[2]
    assert browser.find_element("id", "decoded").get_attribute("naturalWidth") == "8"
    assert len(browser.find_elements("css selector", "#legend div")) == 10
    painted = browser.execute_script(
        "const c = document.getElementById('map'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
    assert painted > 500  # 180 coloured points
    assert len(browser.find_elements("css selector", "#sliders .slider:not([hidden])")) >= 4
    assert error_text(browser) == ""
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    shot(browser, "01-loaded")


def test_map_hover_shows_the_example_and_click_loads_its_code(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, server)
    canvas = browser.find_element("id", "map")
    # Where test example 5 is drawn, in CSS pixels from the canvas centre (what ActionChains moves by).
    x, y = browser.execute_script(
        "const [px, py] = mapScale()(state.map.points[5]); const c = document.getElementById('map');"
        "const r = c.getBoundingClientRect(); return [px * r.width / c.width - r.width / 2, py * r.height / c.height - r.height / 2];")
    ActionChains(browser).move_to_element_with_offset(canvas, int(round(x)), int(round(y))).perform()
    tip = browser.find_element("id", "map-tip")
    wait_for(lambda: tip.is_displayed() and "test example" in tip.text, what="the hover tooltip")
    shown = int(re.search(r"test example (\d+)", tip.text).group(1))
    assert tip.find_element("css selector", "img").get_attribute("naturalWidth") == "8"
    example = browser.execute_async_script(f"fetch('/api/runs/0/examples/{shown}').then(r => r.json()).then(arguments[0]);")
    assert f"class {example['label']}" in tip.text
    shot(browser, "02a-map-hover")
    decoded = browser.find_element("id", "decoded")
    version = int(decoded.get_attribute("data-version"))
    ActionChains(browser).click().perform()
    wait_for(lambda: int(decoded.get_attribute("data-version")) > version, what="the clicked code to decode")
    z = browser.execute_script("return state.z;")
    assert z == pytest.approx(example["z"], abs=1e-6)


def test_dragging_a_slider_changes_the_picture(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, server)
    decoded = browser.find_element("id", "decoded")
    before, version = pixels(browser, "decoded"), int(decoded.get_attribute("data-version"))
    slider = browser.find_element("css selector", "#sliders .slider input")  # the most active dimension
    value = float(slider.get_attribute("value"))
    ActionChains(browser).click_and_hold(slider).move_by_offset(-slider.size["width"] // 2 + 2, 0).pause(0.3) \
        .move_by_offset(slider.size["width"] - 6, 0).pause(0.3).release().perform()
    wait_for(lambda: int(decoded.get_attribute("data-version")) > version + 1, what="decodes while dragging")
    time.sleep(0.5)  # let the last decode land
    assert float(slider.get_attribute("value")) != value
    after = pixels(browser, "decoded")
    assert np.abs(after.astype(int) - before.astype(int)).sum() > 0
    shot(browser, "02-slider-moved")


def test_interpolation_animates_and_downloads_a_gif(browser, server, downloads):
    open_page(browser, server)
    browser.find_element("id", "btn-interp").click()
    wait_for(lambda: len(browser.find_elements("css selector", "#interp-strip figure")) == 12, what="12 frames")
    anim = browser.find_element("id", "interp-anim")
    seen = set()
    wait_for(lambda: seen.add(anim.get_attribute("data-frame")) or len(seen) >= 4, what="the animation to play")
    shot(browser, "03-interpolation")
    browser.find_element("id", "btn-gif").click()
    gif = wait_for(lambda: [p for p in downloads.glob("*.gif")], what="the GIF download")[0]
    time.sleep(0.3)
    img = Image.open(gif)
    assert img.format == "GIF" and img.n_frames == 2 * 12 - 2


def test_upload_shows_reconstruction_and_place_on_the_map(browser, server, tmp_path):
    open_page(browser, server)
    example = browser.execute_async_script(
        "fetch('/api/runs/0/examples/7').then(r => r.json()).then(arguments[0]);")
    png = example["png"].split(",", 1)[1]
    import base64

    path = tmp_path / "seven.png"
    Image.open(io.BytesIO(base64.b64decode(png))).resize((32, 32), Image.Resampling.NEAREST).convert("RGB").save(path)
    browser.find_element("id", "upload-file").send_keys(str(path))  # "fit" is ticked: resized and converted
    wait_for(lambda: len(browser.find_elements("css selector", "#upload-result figure img")) == 2, what="the reconstruction")
    score = browser.find_element("id", "upload-score").text
    assert re.search(r"Anomaly score \d+\.\d\d .*higher than \d+\.\d % of the test set", score), score
    assert error_text(browser) == ""
    shot(browser, "04-upload")
    # Strict mode: an image of the wrong size is refused with the server's message, shown on the page.
    browser.find_element("id", "upload-fit").click()  # unticking re-sends the chosen file
    wait_for(lambda: "32x32" in error_text(browser), what="the size error")
    assert "8x8" in error_text(browser)
    shot(browser, "05-upload-error")


def test_conditional_run_label_picker_and_restyle(browser, server):
    from selenium.webdriver.support.ui import Select

    open_page(browser, server, run="1")
    picker = browser.find_element("id", "label-select")
    assert picker.is_displayed() and len(Select(picker).options) == 10
    decoded = browser.find_element("id", "decoded")
    before, version = pixels(browser, "decoded"), int(decoded.get_attribute("data-version"))
    current = Select(picker).first_selected_option.get_attribute("value")
    Select(picker).select_by_value("1" if current != "1" else "7")
    wait_for(lambda: int(decoded.get_attribute("data-version")) > version, what="a decode under the new label")
    time.sleep(0.3)
    assert np.abs(pixels(browser, "decoded").astype(int) - before.astype(int)).sum() > 0
    browser.find_element("id", "btn-restyle").click()
    wait_for(lambda: len(browser.find_elements("css selector", "#restyle-grid figure")) == 10, what="10 restyles")
    shot(browser, "06-conditional")


def test_draw_a_mask_and_inpaint(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, server)
    section = browser.find_element("id", "inpaint")
    browser.execute_script("arguments[0].scrollIntoView();", section)
    assert section.is_displayed()
    wait_for(lambda: browser.find_element("id", "paint-img").get_attribute("naturalWidth") == "8", what="the picture")
    canvas = browser.find_element("id", "paint")
    cell = canvas.size["height"] / 8
    for row in (0, 1, 2):  # paint the top three pixel rows, one stroke each (brush of one pixel)
        y = int(-canvas.size["height"] / 2 + (row + 0.5) * cell)
        ActionChains(browser).move_to_element_with_offset(canvas, -int(canvas.size["width"] / 2) + 3, y) \
            .click_and_hold().move_by_offset(canvas.size["width"] - 6, 0).release().perform()
    mask = browser.execute_script("return maskBits();")
    assert mask == "1" * 24 + "0" * 40
    browser.find_element("id", "btn-inpaint").click()
    wait_for(lambda: len(browser.find_elements("css selector", "#inpaint-grid figure img")) == 8, what="8 completions")
    shot(browser, "08-inpaint")
    assert error_text(browser) == ""
    original = pixels(browser, "paint-img").reshape(8, 8, 4)
    outs = []
    for i in range(8):
        browser.execute_script("document.querySelectorAll('#inpaint-grid figure img')[arguments[0]].id = 'completion';"
                               "document.querySelectorAll('#inpaint-grid figure img').forEach((im, j) => { if (j !== arguments[0]) im.removeAttribute('id'); });", i)
        outs.append(pixels(browser, "completion").reshape(8, 8, 4))
    for out in outs:
        assert np.array_equal(out[3:], original[3:])  # the unpainted rows are kept exactly
    assert len({o[:3].tobytes() for o in outs}) > 1


def test_table_run_shows_rows_not_pictures(browser, server):
    open_page(browser, server, run="2")
    assert not browser.find_element("id", "decoded").is_displayed()
    header = [th.text for th in browser.find_elements("css selector", "#decoded-row table.rows th")]
    assert "mean radius" in header and len(header) == 31
    browser.find_element("id", "btn-sample").click()
    wait_for(lambda: len(browser.find_elements("css selector", "#sample-grid table.rows tr")) == 17, what="16 rows")
    assert not browser.find_elements("css selector", "#sample-grid img")
    shot(browser, "07-table")
