"""The forward-auth bench's nginx configuration: the recipe with the bench's ports, the
upstream, the straight front and the ceiling front, accepted by the real nginx."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench.forward_auth import nginx_config

from tests.gateway.test_nginx import nginx_binary


def test_the_three_fronts_and_the_ceilings_do_nothing_decision(tmp_path: Path) -> None:
    text = nginx_config(tmp_path, 8101, 8102, 8103, 8104, (8105, 8106))
    # The recipe's front asks Fluide Connect; the straight front asks nobody; the ceiling front
    # asks the do-nothing service, through the same kind of subrequest.
    assert "listen 127.0.0.1:8102;" in text and "server 127.0.0.1:8101;" in text
    straight = re.search(r"server \{ listen 127\.0\.0\.1:8103;.*?\} \}", text, re.DOTALL)
    assert straight is not None and "auth_request" not in straight.group()
    ceiling = re.search(r"server \{ listen 127\.0\.0\.1:8105;.*?\} \}", text, re.DOTALL)
    assert ceiling is not None
    assert "auth_request /_decide;" in ceiling.group()
    assert "proxy_pass_request_body off;" in ceiling.group()
    assert "upstream nothing_decides { server 127.0.0.1:8106; keepalive 32; }" in text
    for front in (straight.group(), ceiling.group()):
        assert "proxy_pass http://orders;" in front  # the same upstream as the recipe's front


def test_nginx_accepts_the_bench_configuration(tmp_path: Path) -> None:
    binary = nginx_binary()
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_config(tmp_path, 8101, 8102, 8103, 8104, (8105, 8106)))
    checked = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
