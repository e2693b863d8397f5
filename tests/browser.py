"""Headless Debian Chromium for the browser tests, driven by selenium through Debian's chromedriver (so
selenium never tries to download a driver). Flags as this machine needs them: no sandbox as root, no GPU,
no background networking (its connections are refused here)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SKIP_REASON = "needs Debian chromium and chromium-driver (.ci/run installs them)"


def have_chromium() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def chromium(*extra_flags: str, window: str = "1280,900") -> Iterator:
    """Yield a selenium Chrome driver (quit afterwards); skips the test when Chromium is missing.
    Use as a fixture body: `yield from chromium(...)`."""
    if not have_chromium():
        pytest.skip(SKIP_REASON)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", f"--window-size={window}", *extra_flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def login(driver, base_url: str, user: str, password: str) -> None:  # noqa: ANN001 - a selenium driver
    """Log in through the central service's login page."""
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
