"""One approver's story in a real headless browser (issue 12): Debian's chromium driven by
selenium through Debian's chromedriver, the review page served by uvicorn on loopback.

bob signs in with the keyboard, opens his queue, opens the post, reads what each channel
will get, approves it and sees it approved; the page fits a phone's width. A screenshot of
the post page is kept in the test's tmp dir.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scheduler.clock import FrozenClock
from scheduler.web.app import create_app
from scheduler.web.serve import bind
from tests.conftest import ADD_CAMPAIGN, Signpost, add_post
from tests.peers import CHROMIUM_FLAGS, PEERS, free_port, missing
from tests.shared import TEXT, as_json, cli, clock  # noqa: F401  (fixtures)
from tests.webpage import SECRET, workspace

BOB = "bob checks every word"
#: axe-core, installed by .ci/run from the npm registry into .peers/ (peers.md's layout)
AXE = PEERS / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = (390, 844)


@pytest.fixture
def served(cli: Signpost, config_file: Path, clock: FrozenClock) -> Iterator[str]:  # noqa: F811
    """The review page under uvicorn on a loopback port: its address."""
    import uvicorn

    assert cli("carol", "init").exit_code == 0
    assert cli("carol", *ADD_CAMPAIGN).exit_code == 0
    assert cli("bob", "users", "set-password", "bob", input=f"{BOB}\n").exit_code == 0
    ws = workspace(config_file, clock)
    port = free_port()
    sock = bind("127.0.0.1", port)
    server = uvicorn.Server(
        uvicorn.Config(create_app(ws, secret=SECRET), access_log=False, log_config=None)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    ws.store.close()


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[object]:
    """Headless chromium, offline (the flags keep it from calling Google's hosts)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        missing("chromium and chromedriver (apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        *CHROMIUM_FLAGS,
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.implicitly_wait(5)
    yield browser
    browser.quit()


def test_an_approver_signs_in_opens_the_queue_and_approves_a_post(
    served: str,
    chrome,
    cli: Signpost,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    post = add_post(cli, f"Worried about your thoughts? {TEXT}", "--channels", "newsroom,mastodon")
    assert cli("alice", "post", "submit", str(post["id"])).exit_code == 0

    chrome.get(f"{served}/queue")
    assert chrome.title == "Sign in · Signpost"
    # The name field has the focus: type, Tab to the password, Enter to send.
    assert chrome.switch_to.active_element.get_attribute("id") == "username"
    with new_page(chrome):
        ActionChains(chrome).send_keys("bob", Keys.TAB, BOB, Keys.ENTER).perform()

    assert chrome.find_element(By.TAG_NAME, "h1").text == "Review queue"
    ActionChains(chrome).send_keys(Keys.TAB).perform()
    assert chrome.switch_to.active_element.text == "Skip to content"  # the first Tab stop
    assert "1 post awaits your review" in chrome.find_element(By.ID, "main").text
    with new_page(chrome):
        chrome.find_element(By.LINK_TEXT, f"Post {post['id']}, revision 1").click()

    assert chrome.find_element(By.TAG_NAME, "h1").text.startswith(f"Post {post['id']}")
    cards = chrome.find_elements(By.CSS_SELECTOR, "section.card")
    shown = as_json(cli("bob", "post", "preview", str(post["id"]), "--format", "json"))
    assert [c.find_element(By.TAG_NAME, "h3").text for c in cards] == [
        f"{c['channel']} ({c['type']})" for c in shown["channels"]
    ]
    for card, expected in zip(cards, shown["channels"], strict=True):
        assert card.find_element(By.CLASS_NAME, "outgoing").text == expected["text"].strip()
    chrome.save_screenshot(str(tmp_path / "post-page.png"))
    assert (tmp_path / "post-page.png").stat().st_size > 10_000

    chrome.find_element(By.ID, "approve-comment").send_keys("Checked with the charity")
    with new_page(chrome):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Approve revision 1']").click()

    message = chrome.find_element(By.CSS_SELECTOR, "[role=status].message").text
    assert f"You approved revision 1 of post {post['id']}: it is now approved." in message
    assert chrome.find_element(By.CSS_SELECTOR, "h1 .state").text == "approved"
    assert "bob approved revision 1" in chrome.find_element(By.ID, "main").text
    after = as_json(cli("bob", "post", "show", str(post["id"]), "--format", "json"))
    assert after["state"] == "approved"


def test_the_pages_fit_a_phone_without_scrolling_sideways(
    served: str,
    chrome,
    cli: Signpost,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    post = add_post(cli, f"A long word: {'x' * 120}. {TEXT}", "--channels", "newsroom")
    assert cli("alice", "post", "submit", str(post["id"])).exit_code == 0
    chrome.set_window_size(*PHONE)
    chrome.get(f"{served}/sign-in")
    chrome.find_element(By.ID, "username").send_keys("bob")
    chrome.find_element(By.ID, "password").send_keys(BOB)
    with new_page(chrome):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()

    for path in ("/queue", f"/posts/{post['id']}", "/calendar", "/deliveries"):
        chrome.get(f"{served}{path}")
        wide = chrome.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert wide[0] <= wide[1], f"{path} scrolls sideways on a phone: {wide}"


def test_every_page_passes_an_axe_accessibility_check(
    served: str,
    chrome,
    cli: Signpost,  # noqa: F811
) -> None:
    """axe-core's WCAG 2.1 A and AA rules on each page, signed out and signed in."""
    from selenium.webdriver.common.by import By

    if not AXE.is_file():
        missing(f"axe-core ({AXE}; npm install --prefix .peers/axe axe-core@4)")
    post = add_post(cli, TEXT, "--channels", "newsroom,mastodon")
    assert cli("alice", "post", "submit", str(post["id"])).exit_code == 0
    script = AXE.read_text()
    chrome.get(f"{served}/sign-in")
    pages = {"/sign-in": violations(chrome, script)}
    chrome.find_element(By.ID, "username").send_keys("bob")
    chrome.find_element(By.ID, "password").send_keys(BOB)
    with new_page(chrome):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
    for path in ("/queue", f"/posts/{post['id']}", "/calendar", "/deliveries"):
        chrome.get(f"{served}{path}")
        pages[path] = violations(chrome, script)

    assert pages == {path: [] for path in pages}


@contextmanager
def new_page(chrome) -> Iterator[None]:
    """Wait until what the block did (a click, an Enter) has replaced the page.

    A form's submission navigates asynchronously: without the wait, the next lookup can find
    the old page's elements, stale a moment later, or a chrome.get() can overtake the sign-in.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    old = chrome.find_element(By.TAG_NAME, "html")
    yield
    WebDriverWait(chrome, 10).until(staleness_of(old))


def violations(chrome, axe_script: str) -> list[str]:
    """axe's findings on the page open now, one line each (rule, impact, first element)."""
    chrome.execute_script(axe_script)
    found = chrome.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
        ".then(r => done(r.violations.map(v => [v.id, v.impact, v.nodes[0].html])));"
    )
    return [f"{rule} ({impact}): {html}" for rule, impact, html in found]
