"""Regenerate docs/images/ui.png, the live view's screenshot in docs/ui.md.

    PYTHONPATH=. .venv/bin/python scripts/ui_screenshot.py [path]

Starts a mock, sends a few requests through the openai SDK (one with an image and a BOX hint), opens
/_admin/ui in Debian's chromium (tests/chromium.py) and photographs it with that request opened.
tests/api/test_ui_browser.py runs it too, into a temporary file.
"""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perceptron_mock.testing.plugin import ThreadedMock  # noqa: E402
from tests.chromium import chromium_page  # noqa: E402

MODEL = "isaac-0.2-2b-preview"
WAIT = 15_000


def scene() -> str:
    """A small drawn street scene as a PNG data URL (nothing is downloaded)."""
    image = Image.new("RGB", (640, 400), "#9cc9ef")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 260, 640, 400), fill="#7a9b5c")
    draw.rectangle((60, 120, 250, 300), fill="#c8553d")
    draw.polygon([(40, 120), (155, 50), (270, 120)], fill="#6b3e26")
    draw.rectangle((130, 210, 180, 300), fill="#3b2a1a")
    draw.ellipse((420, 190, 520, 290), fill="#f2c14e")
    draw.rectangle((330, 300, 600, 340), fill="#4d4d4d")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def screenshot(path: Path) -> None:
    mock = ThreadedMock().start()
    try:
        client = mock.openai_client(max_retries=0)
        with chromium_page(1280, 860) as page:
            page.goto(mock.url + "/_admin/ui")
            page.wait_for_selector("#live-state.on", timeout=WAIT)
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Describe the street."}], stream=False)
            mock.fail_next("503")
            try:
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Again?"}])
            except Exception:  # the queued 503, as a client sees it
                pass
            list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Stream it."}], stream=True))
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[
                    {"role": "system", "content": "<hint>BOX</hint>"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": scene()}},
                            {"type": "text", "text": "Find the house, the door and the sun."},
                        ],
                    },
                ],
            )
            row = page.wait_for_selector(f'#rows tr[data-request-id="{raw.headers["x-request-id"]}"]', timeout=WAIT)
            row.click()
            page.wait_for_selector('.grounding figure[data-asset="0"][data-drawn]', timeout=WAIT)
            page.screenshot(path=str(path))
    finally:
        mock.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "ui.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    screenshot(target)
    print(f"ui_screenshot.py: wrote {target}")
