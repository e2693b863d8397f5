"""The zone editor in real headless Chromium: draw a post zone by clicks and save it; a collinear floor
calibration is refused in the page; a good one shows its grid and is saved."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from calibration.app import create_calibration_app
from edge.config import load_config
from tests.browser import SKIP_REASON, chromium, have_chromium
from tests.calib_fixtures import CONFIG_TEXT, make_config, real_speech, red_blob_detector

pytestmark = [pytest.mark.browser, pytest.mark.slow]

pytest.importorskip("selenium.webdriver")
if not have_chromium():
    pytest.skip(SKIP_REASON, allow_module_level=True)

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "browser-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, request):
    speech = real_speech(3.0) if request.node.get_closest_marker("assets") else None
    cfg = make_config(tmp_path, speech=speech)
    port = _free_port()
    app = create_calibration_app(cfg, token=TOKEN, detector=red_blob_detector)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not th.is_alive():
            pytest.fail("the calibration server did not start")
        time.sleep(0.05)
    yield cfg, f"http://127.0.0.1:{port}/?token={TOKEN}"
    srv.should_exit = True
    th.join(timeout=10)


@pytest.fixture
def browser():
    for drv in chromium(window="1400,900"):
        drv.set_script_timeout(20)
        yield drv


def _wait(drv, cond, timeout=20):
    return WebDriverWait(drv, timeout).until(cond)


def _open(drv, url):
    drv.get(url)
    _wait(drv, ec.presence_of_element_located((By.CSS_SELECTOR, 'polygon[data-zone="W1 post"]')))
    return drv.find_element(By.ID, "overlay")


def _click_rel(drv, svg, points):
    """Click at relative image points (the SVG covers the snapshot exactly)."""
    w, h = svg.size["width"], svg.size["height"]
    for x, y in points:  # selenium offsets are from the element's centre
        ActionChains(drv).move_to_element_with_offset(svg, int(x * w - w / 2), int(y * h - h / 2)).click().perform()


def _status(drv, css, text):
    _wait(drv, ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return drv.find_element(By.CSS_SELECTOR, css).text


def test_draw_post_zone_and_save(server, browser):
    cfg, url = server
    svg = _open(browser, url)
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="redraw"][data-zone="W1 post"]').click()
    clicks = [(0.15, 0.55), (0.35, 0.55), (0.35, 0.85), (0.15, 0.85)]
    _click_rel(browser, svg, clicks)
    browser.find_element(By.ID, "finish").click()
    browser.find_element(By.ID, "add-window").click()  # template: post + counter side by side
    name = browser.find_element(By.CSS_SELECTOR, 'input[data-rename="window:W2"]')  # rename it
    name.send_keys(Keys.CONTROL, "a")  # (clear() would fire a change with an empty id first)
    name.send_keys("W7", Keys.TAB)
    # move W1's counter by dragging its body 0.1 of the width to the right
    counter = browser.find_element(By.CSS_SELECTOR, 'polygon[data-zone="W1 counter"]')
    ActionChains(browser).click_and_hold(counter).move_by_offset(int(0.1 * svg.size["width"]), 0) \
        .release().perform()
    browser.find_element(By.CSS_SELECTOR, '[data-action="delete-area"]').click()  # delete back_office
    browser.save_screenshot(str(Path(os.environ.get("CALIB_SHOTS", cfg.parent)) / "editor.png"))
    browser.find_element(By.ID, "save").click()
    assert "previous version" in _status(browser, "#status", "Saved")
    model = load_config(cfg)  # still validates with the node's own loader
    post = model.windows[0].post
    assert len(post) == 4
    for (x, y), (ex, ey) in zip(post, clicks, strict=True):
        assert x == pytest.approx(ex, abs=0.01) and y == pytest.approx(ey, abs=0.01)
    w2 = model.windows[1]
    assert w2.id == "W7" and w2.camera == "cam1" and len(w2.post) == 4 and len(w2.counter) == 4
    assert max(p[0] for p in w2.post) <= min(p[0] for p in w2.counter) + 1e-6  # side by side
    moved = [[0.4, 0.5], [0.6, 0.5], [0.6, 0.9], [0.4, 0.9]]  # the counter was 0.3..0.5 wide
    assert np.allclose(model.windows[0].counter, moved, atol=0.01)
    assert model.staff_areas == []
    text = cfg.read_text()
    assert "# window 1 is the one by the door" in text and "after_s: 60   # one minute in this hall" in text
    assert len(list(cfg.parent.glob("node.yaml.*.bak"))) == 1


def _floor_points(drv, svg, image, metres):
    drv.find_element(By.ID, "floor-clear").click()
    drv.find_element(By.ID, "floor-add").click()
    _click_rel(drv, svg, image)
    drv.find_element(By.ID, "floor-add").click()  # done clicking
    for i, (mx, my) in enumerate(metres):
        for k, v in enumerate((mx, my)):
            inp = drv.find_element(By.CSS_SELECTOR, f'input[data-floor="{i}:{k}"]')
            inp.clear()
            inp.send_keys(str(v))
    drv.find_element(By.ID, "floor-check").click()


def test_floor_calibration_refused_then_accepted(server, browser):
    cfg, url = server
    svg = _open(browser, url)
    collinear = [(0.1, 0.7), (0.3, 0.7), (0.5, 0.7), (0.7, 0.7)]  # along one floor line
    _floor_points(browser, svg, collinear, [(0, 0), (2, 0), (2, 3), (0, 3)])
    msg = _status(browser, "#floor-msg", "refused")
    assert "line" in msg
    assert not browser.find_elements(By.CSS_SELECTOR, "polyline.grid")
    browser.find_element(By.ID, "save").click()
    assert "line" in _status(browser, "#status", "not saved")
    assert cfg.read_text() == CONFIG_TEXT  # nothing written

    # A floor rectangle clicked corner by corner, with its two side lengths typed in.
    browser.find_element(By.ID, "floor-clear").click()
    browser.find_element(By.ID, "floor-add").click()
    _click_rel(browser, svg, [(0.25, 0.6), (0.75, 0.6), (0.9, 0.95), (0.1, 0.95)])
    browser.find_element(By.ID, "floor-add").click()
    browser.find_element(By.ID, "rect-w").send_keys("3")
    browser.find_element(By.ID, "rect-d").send_keys("2.5")
    browser.find_element(By.ID, "rect-fill").click()
    browser.find_element(By.ID, "floor-check").click()
    _status(browser, "#floor-msg", "floor calibration OK")
    assert len(browser.find_elements(By.CSS_SELECTOR, "polyline.grid")) >= 4
    browser.save_screenshot(str(Path(os.environ.get("CALIB_SHOTS", cfg.parent)) / "floor.png"))
    browser.find_element(By.ID, "save").click()
    _status(browser, "#status", "Saved")
    floor = load_config(cfg).camera("cam1").floor
    assert floor.metres == [[0, 0], [3, 0], [3, 2.5], [0, 2.5]]
    assert floor.image[0] == pytest.approx([0.25, 0.6], abs=0.01)


def _record(drv, kind, *, seconds, start_s):
    mic = drv.find_element(By.CSS_SELECTOR, '[data-mic="mic1"]')  # found anew: the panel is redrawn
    secs, start = mic.find_elements(By.CSS_SELECTOR, "input[type=number]")
    for inp, v in ((secs, seconds), (start, start_s)):
        inp.send_keys(Keys.CONTROL, "a")
        inp.send_keys(str(v), Keys.TAB)
    mic.find_element(By.CSS_SELECTOR, f'[data-record="{kind}"]').click()
    _status(drv, "#status", f"mic1 {kind}")


@pytest.mark.assets
def test_microphone_baseline_and_live_view(server, browser):
    cfg, url = server
    _open(browser, url)
    _record(browser, "ambient", seconds=1.5, start_s=0)  # the file: 2 s of room noise, then speech
    _record(browser, "speech", seconds=3, start_s=2)
    assert "pitch" in browser.find_element(By.CSS_SELECTOR, '[data-baseline="mic1"]').text
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-mic="mic1"] svg.levels')) == 2
    browser.find_element(By.ID, "save").click()
    _status(browser, "#status", "Saved")
    base = load_config(cfg).microphones[0].baseline
    assert base.ambient_db < -50 and base.speech_db > base.ambient_db + 20 and 70 < base.pitch_hz < 300

    browser.find_element(By.ID, "live-toggle").click()  # the annotated pipeline view (MJPEG)
    _wait(browser, lambda d: d.execute_script(
        "const i = document.getElementById('live'); return !i.hidden && i.naturalWidth > 0;"))
    browser.save_screenshot(str(Path(os.environ.get("CALIB_SHOTS", cfg.parent)) / "live.png"))
    browser.find_element(By.ID, "live-toggle").click()
    assert browser.find_element(By.ID, "live").get_attribute("src") in (None, "")
