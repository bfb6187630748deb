"""The report renders in a real browser: headless Chromium screenshot of the fake-results report."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import image as mpimg
from report_fixtures import fake_results

from privids.report import render_report, write_report
from privids.report.sections import build_sections


@pytest.mark.slow
def test_headless_chromium_renders_the_report(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install -y chromium)")
    page = write_report(render_report(build_sections(fake_results(), synthetic=True), title="privids study",
                                      synthetic=True), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1100,2400", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    px = mpimg.imread(shot)[..., :3]
    assert px.shape[:2] == (2400, 1100)
    # The yellow synthetic banner is near the top: a band of pixels with high red/green, lower blue.
    top = px[80:260]
    yellow = (top[..., 0] > 0.95) & (top[..., 1] > 0.9) & (top[..., 2] < 0.88)
    assert yellow.mean() > 0.1
    # Figures were decoded: the dark blue bars/curves of the plots appear further down.
    blue = (px[..., 2] > 0.45) & (px[..., 0] < 0.25)
    assert blue[400:].mean() > 0.005
    assert np.unique(px.reshape(-1, 3).round(2), axis=0).shape[0] > 200
