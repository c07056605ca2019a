"""The live view in a real browser (Debian's chromium through Playwright): rows arrive without a
reload, the opened request shows its image, and each drawn box sits where the perceptron SDK's own
parser puts it. Skipped without chromium locally; CI installs it and fails if it is missing."""

from __future__ import annotations

import httpx
import pytest
from perceptron import collect_annotations
from perceptron.pointing.geometry import scale_annotations_by_asset

from tests.chromium import chromium_page, require_chromium
from tests.helpers import MODEL, data_url, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
WAIT = 15_000  # ms: a watchdog against a stall, not a timing assertion


@pytest.fixture
def page():
    require_chromium()
    with chromium_page() as opened:
        yield opened


def _open_live_view(page, url: str) -> None:
    page.goto(url + "/_admin/ui")
    page.wait_for_selector("#live-state.on", timeout=WAIT)


def _ask_for_boxes(openai_client, image: bytes, text: str):
    return openai_client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "<hint>BOX</hint>"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(image)}}, {"type": "text", "text": text}]},
        ],
    )


def _open_row(page, request_id: str):
    # A locator, not an element handle: the live list may redraw the row between finding and pressing it.
    row = page.locator(f'#rows tr[data-request-id="{request_id}"]')
    row.wait_for(timeout=WAIT)
    row.press("Enter", timeout=WAIT)  # by keyboard (press focuses it first), as a user without a mouse would


def test_a_request_appears_live_and_each_box_is_drawn_where_the_sdk_parser_puts_it(page, perceptron_mock, openai_client):
    _open_live_view(page, perceptron_mock.url)
    width, height = 320, 240
    raw = _ask_for_boxes(openai_client, image_bytes(size=(width, height), color="white"), "Find the cat, the dog and the ball.")
    content = raw.parse().choices[0].message.content
    _open_row(page, raw.headers["x-request-id"])  # arrived without a reload

    figure = page.wait_for_selector('.grounding figure[data-asset="0"][data-drawn]', timeout=WAIT)
    assert (figure.get_attribute("data-width"), figure.get_attribute("data-height")) == (str(width), str(height))
    assert page.eval_on_selector(".grounding figure[data-asset='0'] img", "img => img.naturalWidth") == width

    boxes = collect_annotations(content).boxes
    assert len(boxes) >= 1
    expected = sorted(
        (b.top_left.x, b.top_left.y, b.bottom_right.x - b.top_left.x, b.bottom_right.y - b.top_left.y, b.mention)
        for b in scale_annotations_by_asset(boxes, [(width, height)])
    )
    drawn = page.eval_on_selector_all(
        ".grounding figure[data-asset='0'] svg g.box",
        """groups => groups.map(g => { const r = g.querySelector('rect');
            return [+r.getAttribute('x'), +r.getAttribute('y'), +r.getAttribute('width'), +r.getAttribute('height'),
                    g.querySelector('text').textContent]; })""",
    )
    assert sorted(tuple(d) for d in drawn) == expected

    # On the screen too: each box's corner is where the scaled image puts that pixel.
    on_screen = page.eval_on_selector(
        ".grounding figure[data-asset='0'] .stage",
        """stage => { const img = stage.querySelector('img').getBoundingClientRect();
            return [img.left, img.top, img.width, img.height,
                    [...stage.querySelectorAll('rect')].map(r => { const b = r.getBBox(), c = r.getBoundingClientRect();
                      return [b.x, b.y, c.left + c.width / 2, c.top + c.height / 2, b.width, b.height]; })]; }""",
    )
    left, top, shown_w, shown_h, rects = on_screen
    sx, sy = shown_w / width, shown_h / height
    for x, y, cx, cy, w, h in rects:
        assert abs(left + (x + w / 2) * sx - cx) < 1.5 and abs(top + (y + h / 2) * sy - cy) < 1.5

    # The conversation's thumbnail opens the image at full size, boxes and all.
    page.click(".conversation .open-full")
    page.wait_for_selector("dialog[open] figure[data-drawn]", timeout=WAIT)
    assert page.eval_on_selector("dialog[open] img", "img => img.naturalWidth") == width
    assert page.eval_on_selector_all("dialog[open] svg rect", "rects => rects.length") == len(expected)
    page.keyboard.press("Escape")


def test_points_and_polygons_are_drawn_at_the_sdk_parsers_pixels_on_the_image_they_name(page, perceptron_mock, admin):
    # Two images; a fixture answers with every kind, one on each asset, inside a collection too.
    perceptron_mock.add_fixture(
        name="shapes",
        match={"user_text": "shapes"},
        respond={
            "content": '<point mention="eye" asset_idx="0"> (500,500) </point> '
            '<collection mention="fence" asset_idx="1"> <polygon> (100,100) (900,120) (500,875) </polygon> '
            '<point_box mention="gate"> (125,375) (625,625) </point_box> </collection>'
        },
    )
    _open_live_view(page, perceptron_mock.url)
    sizes = [(200, 100), (97, 61)]  # odd sizes: rounding half to even matters
    images = [{"type": "image_url", "image_url": {"url": data_url(image_bytes(size=s))}} for s in sizes]
    answered = httpx.post(
        perceptron_mock.base_url + "/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": MODEL, "messages": [{"role": "user", "content": [*images, {"type": "text", "text": "shapes"}]}]},
    )
    _open_row(page, answered.headers["x-request-id"])
    page.wait_for_selector('.grounding figure[data-asset="1"][data-drawn]', timeout=WAIT)
    parsed = collect_annotations(answered.json()["choices"][0]["message"]["content"])
    [point] = scale_annotations_by_asset(parsed.points, sizes)
    [polygon] = scale_annotations_by_asset(parsed.polygons, sizes)
    drawn_point = page.eval_on_selector(".grounding figure[data-asset='0'] circle", "c => [+c.getAttribute('cx'), +c.getAttribute('cy')]")
    assert drawn_point == [point.x, point.y]
    drawn_polygon = page.eval_on_selector(".grounding figure[data-asset='1'] polygon", "p => p.getAttribute('points')")
    assert drawn_polygon == " ".join(f"{p.x},{p.y}" for p in polygon.hull)
    mentions = page.eval_on_selector_all(".grounding figure[data-asset='1'] g", "gs => gs.map(g => g.dataset.mention)")
    assert sorted(mentions) == ["fence", "gate"]  # the collection's mention is inherited
    assert page.eval_on_selector_all(".grounding figure[data-asset='0'] g", "gs => gs.length") == 1


HOSTILE = (
    '<img src=x onerror="fetch(\'/_admin/reset\',{method:\'POST\'})">'
    "<script>fetch('/_admin/reset',{method:'POST'})</script> find the \"><svg onload=alert(1)>"
)


def test_a_hostile_prompt_is_shown_as_text_and_cannot_drive_the_admin_api(page, perceptron_mock, client):
    perceptron_mock.fail_next("503", count=5)  # a reset would clear this queue
    _open_live_view(page, perceptron_mock.url)
    answered = client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "system", "content": "<hint>BOX</hint>"}, {"role": "user", "content": HOSTILE}]},
        headers={"X-Mock-Fault": "latency=0"},
    )
    _open_row(page, answered.headers["x-request-id"])
    page.wait_for_selector(".conversation pre", timeout=WAIT)
    assert HOSTILE in page.inner_text(".conversation")
    assert page.query_selector("img[src='x']") is None and page.query_selector(".conversation svg") is None
    page.wait_for_timeout(500)
    assert [f["remaining"] for f in httpx.get(perceptron_mock.url + "/_admin/faults").json()["data"]] == [5]
    assert [r.path for r in perceptron_mock.requests()] == ["/v1/chat/completions"]  # the journal was not cleared


def test_steering_from_the_page_goes_through_the_admin_api_and_shows_at_once(page, perceptron_mock, client):
    _open_live_view(page, perceptron_mock.url)
    page.click("details.steer summary")
    page.fill("#fault-form input[name=fault]", "503")
    page.fill("#fault-form input[name=count]", "2")
    page.click("#fault-form button[type=submit]")
    page.wait_for_selector("#faults li", timeout=WAIT)
    assert page.inner_text("#faults") == "503 × 2"
    assert client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).status_code == 503
    page.wait_for_selector("#rows tr td.status:text('503')", timeout=WAIT)

    page.click("#fixture-form button[type=submit]")  # the example fixture, "hello"
    page.wait_for_selector("#fixtures li:has-text('hello')", timeout=WAIT)
    assert [f["name"] for f in perceptron_mock.fixtures()] == ["hello"]
    page.click("#fixtures button[aria-label='Remove fixture hello']")
    page.wait_for_function("() => !document.querySelector('#fixtures li')", timeout=WAIT)

    page.click("#reset")
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 0", timeout=WAIT)
    assert perceptron_mock.requests() == [] and httpx.get(perceptron_mock.url + "/_admin/faults").json()["data"] == []


@pytest.mark.perceptron_mock(admin_key="admin-secret-1")
def test_with_an_admin_key_the_page_asks_once_then_runs_live(page, perceptron_mock, client):
    page.goto(perceptron_mock.url + "/_admin/ui")
    page.fill("input[name=key]", "admin-secret-1")
    page.click("button[type=submit]")
    page.wait_for_selector("#live-state.on", timeout=WAIT)
    answered = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    page.wait_for_selector(f'#rows tr[data-request-id="{answered.headers["x-request-id"]}"]', timeout=WAIT)


def test_the_page_fits_a_narrow_window(perceptron_mock, client):
    require_chromium()
    with chromium_page(width=420, height=800) as page:
        _open_live_view(page, perceptron_mock.url)
        answered = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        _open_row(page, answered.headers["x-request-id"])
        page.wait_for_selector(".answer", timeout=WAIT)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_docs_screenshot_script_photographs_the_page_with_a_request_opened(tmp_path):
    require_chromium()
    import importlib.util
    from pathlib import Path

    from PIL import Image

    spec = importlib.util.spec_from_file_location("ui_screenshot", Path(__file__).parents[2] / "scripts" / "ui_screenshot.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.screenshot(tmp_path / "ui.png")
    with Image.open(tmp_path / "ui.png") as shot:
        assert shot.size == (1280, 860)
    assert (Path(__file__).parents[2] / "docs" / "images" / "ui.png").exists()


GROUNDING_CASES = [
    '<point mention="a &amp; b &quot;c&quot;"> (1,2) </point>',
    "<point_box mention='x' asset_idx=1>(10,20)(30,40)</point_box> and <POINT>(7,8)</POINT>",
    '<collection mention="c" asset_idx="2"><point>(5,5)</point><polygon mention="p">(1,1) (9,1) (5,9)</polygon></collection>',
    '<track mention="t"><point t="1s">(1,1)</point><point t="2s">(2,2)</point></track>',
    "<point_box> 10 20 30 40 </point_box> <polygon>(1,1)(2,2)</polygon> <point>(1,2)(3,4)</point>",
    'a < b and <point (1,2) then <point mention="q">(3,4)</point>',
    '<collection mention="u"><point>(1,1)</point><point_box>(1,1)(2,2)</point_box>',
    '<clip t="1 seconds 2 seconds" /> <point mention=\'&lt;script&gt;\' asset_idx="0">(999,1000)</point>',
]


def _sdk_items(text: str) -> list:
    parsed = collect_annotations(text)
    items = []
    for kind, group in (("point", parsed.points), ("box", parsed.boxes), ("polygon", parsed.polygons)):
        for a in group:
            points = [(a.x, a.y)] if kind == "point" else [(p.x, p.y) for p in ((a.top_left, a.bottom_right) if kind == "box" else a.hull)]
            items.append([kind, [list(p) for p in points], a.mention, a.asset_idx])
    return sorted(items, key=repr)


def test_the_pages_tag_reader_agrees_with_the_sdks_collect_annotations(page, perceptron_mock):
    _open_live_view(page, perceptron_mock.url)
    for text in GROUNDING_CASES:
        ours = page.evaluate(
            "text => PMGrounding.parse(text).map(a => [a.kind, a.points, a.mention, a.asset_idx])", text
        )
        assert sorted(ours, key=repr) == _sdk_items(text), text


def test_a_multilook_request_shows_its_uploaded_image_its_prompts_and_each_prompts_answer(page, perceptron_mock, client):
    _open_live_view(page, perceptron_mock.url)
    width, height = 240, 160
    uploaded = client.post("/v1/files", files={"file": ("scene.png", image_bytes(size=(width, height)))}, data={"purpose": "vision"})
    file_id = uploaded.json()["id"]
    perceptron_mock.add_fixture({"name": "refused", "match": {"user_text": "refuse"}, "respond": {"error": {"status": 400, "message": "Not this one."}}})
    body = {
        "model": "perceptron-mk1.5",
        "context": [{"role": "user", "content": [{"type": "image_file_id", "image_file_id": {"file_id": file_id}}]}],
        "prompts": ["What is in the image?", "refuse this"],
    }
    answered = client.post("/v1/chat/completions/multilook", json=body)
    assert answered.status_code == 200
    _open_row(page, answered.headers["x-request-id"])

    page.wait_for_selector(".conversation figure[data-asset='0'] img", timeout=WAIT)
    page.wait_for_function("() => document.querySelector('.conversation figure[data-asset=\"0\"] img').naturalWidth > 0", timeout=WAIT)
    assert page.eval_on_selector(".conversation figure[data-asset='0'] img", "img => img.naturalWidth") == width
    prompts = page.eval_on_selector_all(".conversation li", "items => items.map(li => li.textContent)")
    assert any("prompt 0" in p and "What is in the image?" in p for p in prompts)
    assert any("prompt 1" in p and "refuse this" in p for p in prompts)
    first = answered.json()["results"][0]["completions"][0]["message"]["content"]
    assert page.text_content(".results li[data-prompt='0'] pre") == first
    assert "Not this one." in page.text_content(".results li[data-prompt='1']")


def test_the_test_id_filter_shows_that_tests_requests_live_and_in_the_list(page, perceptron_mock, client):
    before = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "a, before"}]}, headers={"X-Mock-Test-Id": "job-a"})
    client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "b"}]}, headers={"X-Mock-Test-Id": "job-b"})
    _open_live_view(page, perceptron_mock.url)
    page.fill("#filters input[name=test_id]", "job-a")
    page.click("#filters button[type=submit]")
    page.wait_for_selector(f'#rows tr[data-request-id="{before.headers["x-request-id"]}"]', timeout=WAIT)  # the list, read with the header
    after = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "a, after"}]}, headers={"X-Mock-Test-Id": "job-a"})
    page.wait_for_selector(f'#rows tr[data-request-id="{after.headers["x-request-id"]}"]', timeout=WAIT)  # the feed
    assert page.eval_on_selector_all("#rows tr[data-request-id]", "rows => rows.length") == 2  # not job B's
    _open_row(page, after.headers["x-request-id"])
    page.wait_for_function("() => document.querySelector('#detail').textContent.includes('test job-a')", timeout=WAIT)
