"""The evaluation report in a real headless browser (Debian's Chromium through WebDriver): it renders without
errors, no legend covers a training curve, and the calibration diagram and model card are there.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

# As this machine's probe starts Chromium: no sandbox as root, and no background connections (the network is closed).
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def _overlaps(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def test_the_report_renders_and_no_legend_covers_a_curve(pipeline_run, browser, tmp_path):
    report = pipeline_run["evaluation"] / "report.html"
    browser.get(report.as_uri())
    assert browser.title.startswith("Evaluation of MoViNet-A0")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    charts = browser.execute_script("""
        const box = e => { const r = e.getBoundingClientRect();
                           return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
        return [...document.querySelectorAll('svg.curves')].map(svg => ({
            curves: [...svg.querySelectorAll('polyline')].map(box),
            legends: [...svg.querySelectorAll('text.legend')].map(box),
            svg: box(svg)}));""")
    assert len(charts) == 2 and all(len(chart["curves"]) == 2 == len(chart["legends"]) for chart in charts)
    for chart in charts:
        for legend in chart["legends"]:
            assert legend["right"] <= chart["svg"]["right"] + 0.5, "the legend fits in its chart"
            assert not any(_overlaps(legend, curve) for curve in chart["curves"]), (legend, chart["curves"])
    bars = browser.execute_script(
        "return [...document.querySelectorAll('svg.reliability rect')].map(r => r.getBoundingClientRect().height);")
    assert bars and all(height >= 0 for height in bars) and max(bars) > 10, "the reliability diagram has bars"
    card_rows = browser.execute_script(
        "return [...document.querySelectorAll('section.model-card table')].map(t => t.rows.length);")
    assert card_rows and card_rows[0] == 1 + 4, "the model card's data table: a header and one row per label"
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_the_report_shows_precision_recall_curves_the_misclassified_clips_and_the_skipped_items(pipeline_run,
                                                                                               browser):
    browser.get((pipeline_run["evaluation"] / "report.html").as_uri())
    curves = browser.execute_script("return document.querySelectorAll('svg.precision-recall polyline').length;")
    assert curves == 4, "one precision/recall curve per label"
    headings = browser.execute_script("return [...document.querySelectorAll('h2')].map(h => h.textContent);")
    assert {"Misclassified clips", "Skipped items", "Precision and recall per label"} <= set(headings)
    wrong = sum(sum(row) - row[i] for i, row in enumerate(pipeline_run["metrics"]["confusion_matrix"]))
    gallery = browser.execute_script("return document.querySelectorAll('.gallery img').length;")
    assert gallery == min(wrong, 12)


def test_the_gallery_shows_the_most_confident_mistakes_with_their_frames(browser, tmp_path):
    import numpy as np

    from movinet_pipeline.components.evaluate.gallery import Gallery

    rng = np.random.default_rng(0)
    gallery = Gallery(["down", "left", "right", "up"], limit=3)
    frames = rng.random((5, 8, 32, 32, 3)).astype(np.float32)  # 5 clips of 8 frames
    truth = np.array([0, 1, 2, 3, 0])
    logits = np.array([[[5.0, 0, 0, 0]], [[0, 0, 4.0, 0]], [[0, 0, 0, 1.0]], [[0, 0, 3.0, 0]], [[0, 2.0, 0, 0]]])
    gallery.add(frames, truth, logits, np.array([b"a", b"b", b"c", b"d", b"e"]))
    assert gallery.mistakes == 4 and [m.media_id for m in gallery.kept] == ["b", "d", "e"], "most confident first"
    page = tmp_path / "gallery.html"
    page.write_text(f"<!doctype html><html><body>{gallery.html()}</body></html>")
    browser.get(page.as_uri())
    images = browser.execute_script("""return [...document.querySelectorAll('.gallery img')].map(
        img => ({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight}));""")
    assert images == [{"complete": True, "width": 4 * 32, "height": 32}] * 3, "4 decoded frames side by side each"
    captions = browser.execute_script("return [...document.querySelectorAll('figcaption')].map(c => c.textContent);")
    assert captions[0].startswith("item b: true left, predicted right (")
