"""/favicon.ico, which browsers ask for whatever a page links, is the site's icon (not a 404)."""

import struct
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client


def test_favicon_ico_points_at_the_static_icon_and_the_icon_is_one():
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/img/favicon.ico"
    assert response["Cache-Control"] == "public, max-age=86400"

    icon = Path(finders.find("img/favicon.ico")).read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", icon)
    assert (reserved, kind, count) == (0, 1, 3)  # an icon file with three images
    sizes = [struct.unpack_from("<BB", icon, 6 + 16 * n) for n in range(count)]
    assert sizes == [(16, 16), (32, 32), (48, 48)]
    for n in range(count):
        length, offset = struct.unpack_from("<II", icon, 6 + 16 * n + 8)
        assert icon[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + length <= len(icon)


@pytest.mark.django_db
def test_every_page_links_the_icon(client):
    html = client.get("/").content.decode()  # base.html's head, which every page extends
    assert '<link rel="icon" href="/static/img/favicon.ico" sizes="16x16 32x32 48x48">' in html
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in html
