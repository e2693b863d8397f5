"""Real headless Chromium (Debian `chromium` + `chromium-driver`) on the live dashboard: a manager logs in,
sees an alert published over a real Mosquitto arrive without a reload, acknowledges it; a supervisor then
has no resolve button and is refused when trying anyway."""

from __future__ import annotations

import pytest

from alerts.central.service import run_central_in_thread
from alerts.publisher import Publisher
from tests.alerts_helpers import central_config, edge_config, make_event, post_clip
from tests.browser import chromium, login

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def browser():
    yield from chromium(window="1280,900")


def _login(driver, url: str, user: str) -> None:
    login(driver, url, user, f"{user}-pw")  # the password central_config gives every test user


def test_manager_sees_live_alert_acks_and_supervisor_cannot_resolve(tmp_path, mosquitto, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    handle = run_central_in_thread(central_config(tmp_path, mosquitto.url), wait_mqtt_s=10)
    pub = Publisher(edge_config(tmp_path, mosquitto.url), "hall1", "n1")
    pub.start()
    wait = WebDriverWait(browser, 20)
    try:
        _login(browser, handle.url, "manager")
        wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))  # the SSE stream is open
        assert browser.find_elements(By.CSS_SELECTOR, "#alarms tr") == []
        browser.execute_script("window.__noReload = 42")
        event = make_event(1)
        pub.publish_event(event)
        pub.publish_window_state("W1", "empty", {"event_id": event.event_id})
        row = wait.until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, f'#alarms tr[data-event-id="{event.event_id}"]')))
        assert browser.execute_script("return window.__noReload") == 42  # arrived live, no reload
        assert row.get_attribute("data-status") == "open"
        wait.until(ec.text_to_be_present_in_element((By.ID, "win-n1-W1"), "alert"))
        row.find_element(By.TAG_NAME, "a").click()
        browser.find_element(By.ID, "note").send_keys("on my way to W1")
        browser.find_element(By.ID, "ack").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "acked"))
        assert "on my way to W1" in browser.find_element(By.ID, "ack-info").text
        alarm_url = browser.current_url
        alarm_id = alarm_url.rstrip("/").rsplit("/", 1)[1]
        browser.find_element(By.ID, "logout").click()
        wait.until(ec.url_contains("/login"))

        _login(browser, handle.url, "supervisor")
        wait.until(ec.presence_of_element_located((By.ID, "whoami")))
        browser.get(alarm_url)
        assert browser.find_element(By.ID, "status").text == "acked"
        assert browser.find_elements(By.ID, "resolve") == [] and browser.find_elements(By.ID, "ack") == []
        status = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"fetch('/api/alarms/{alarm_id}/resolve', {{method: 'POST', headers: {{'Content-Type': "
            "'application/json'}, body: '{}'}).then(r => done(r.status));")
        assert status == 403
        browser.refresh()
        assert browser.find_element(By.ID, "status").text == "acked"
    finally:
        pub.stop()
        handle.stop()


@pytest.mark.assets
def test_supervisor_plays_uploaded_clip_and_view_is_audited(tmp_path, browser):
    """A real H.264 MP4 (the shared footage) uploaded as a node, played and seeked by Chromium's <video>
    through /clips/<id> (HTTP Range), with the view in the audit log."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from sqlalchemy import select

    from alerts.central.store import ClipAudit
    from models.assets import AssetMissingError, require_asset
    from tests.mosquitto import free_port

    try:
        footage = require_asset("footage/one-by-one-person-detection.mp4")
    except AssetMissingError as exc:
        pytest.skip(str(exc))
    handle = run_central_in_thread(central_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}"))
    try:
        central = handle.central
        event = make_event(1)
        assert central.ingest.handle("hallwatch/hall1/n1/events", event.to_json().encode()) == "stored"
        up = post_clip(handle.url, "token-of-node1-0123456789", event.event_id, footage)
        assert up.status_code == 201, up.text
        url = up.json()["url"]
        _login(browser, handle.url, "supervisor")
        WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "whoami")))
        browser.get(handle.url + "/alarms/1")
        video = browser.find_element(By.TAG_NAME, "video")
        assert video.get_attribute("src").endswith(url)
        state = browser.execute_async_script("""
            const v = document.querySelector('video'); const done = arguments[arguments.length - 1];
            const fail = setTimeout(() => done({error: 'timeout', ready: v.readyState}), 20000);
            v.addEventListener('error', () => done({error: String(v.error && v.error.code)}));
            const seek = () => { v.addEventListener('seeked', () => { clearTimeout(fail);
                done({duration: v.duration, at: v.currentTime, w: v.videoWidth}); }, {once: true});
                v.currentTime = 60; };
            if (v.readyState >= 1) seek(); else v.addEventListener('loadedmetadata', seek, {once: true});
        """)
        assert "error" not in state, state
        assert 130 < state["duration"] < 150 and abs(state["at"] - 60) < 1 and state["w"] == 768
        with central.sessions() as s:
            views = [(a.username, a.action) for a in s.scalars(select(ClipAudit))]
        assert ("supervisor", "view") in views
    finally:
        handle.stop()
