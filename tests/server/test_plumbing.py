"""Small pure pieces of the server: body caps, trace fields, the JSON log formatter."""

from __future__ import annotations

import json
import logging

from cutout.server.limits import body_limit
from cutout.server.logs import CloudJsonFormatter, trace_fields
from cutout.server.params import Params, parse_bool

MB = 1024 * 1024


def test_body_limit_by_content_type() -> None:
    assert body_limit(25 * MB, "image/jpeg") == 25 * MB
    assert body_limit(25 * MB, "") == 25 * MB
    assert body_limit(25 * MB, "multipart/form-data; boundary=x") == 51 * MB
    # base64 is 4/3 of the bytes it carries
    assert body_limit(3 * MB, "application/json") == 4 * MB + MB
    assert body_limit(3 * MB, "Application/X-WWW-Form-Urlencoded") == 5 * MB


def test_trace_fields() -> None:
    header = "105445aa7843bc8bf206b12000100000/1;o=1"
    assert trace_fields(header, "p") == {
        "logging.googleapis.com/trace": "projects/p/traces/105445aa7843bc8bf206b12000100000",
        "logging.googleapis.com/spanId": "1",
        "logging.googleapis.com/trace_sampled": True,
    }
    assert trace_fields("abc", "p") == {"logging.googleapis.com/trace": "projects/p/traces/abc"}
    assert trace_fields(header, None) == {}  # no project, no link
    assert trace_fields("not a trace!", "p") == {}
    assert trace_fields(None, "p") == {}


def test_json_formatter_writes_one_cloud_logging_object() -> None:
    record = logging.LogRecord("cutout.server", logging.WARNING, __file__, 1, "busy %d", (3,), None)
    record.cloud = {"httpRequest": {"status": 503}}
    line = CloudJsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "busy 3"
    assert entry["httpRequest"] == {"status": 503}
    assert entry["time"].endswith("+00:00")


def test_params_merge_and_names() -> None:
    params = Params({"refine-edges": "yes", "crop": "0"}, {"crop": "on"})
    assert params.flag("refine_edges") is True
    assert params.flag("crop") is True  # the later source wins
    assert params.flag("shadow") is False
    assert params.get("missing") is None
    assert Params({"crop": True}).get("crop") == "true"
    assert parse_bool("x", False) is False
