"""The runbook's parallel probe (debug/codex_parallel_probe.py) in Python, against the
embedded echo sidecar, and the result dicts against the lines `scillm batch` writes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import scillm
from conftest import binary

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def probe_requests() -> List[Dict[str, Any]]:
    return [
        {
            "model": "gpt-5",
            "messages": [{"role": "user", "content": "Answer in JSON."}],
            "custom_llm_provider": "codex-agent",
            "response_mode": "schema_first",
            "json_schema": SCHEMA,
        },
        {
            "model": "gpt-5",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ],
            "custom_llm_provider": "codex-agent",
        },
        # The Python original's request form: routing keys under `kwargs`.
        {"model": "gpt-5", "messages": [{"role": "user", "content": "Say hi."}], "kwargs": {"custom_llm_provider": "codex-agent"}},
    ]


def test_runbook_parallel_probe_schema_first_vision_plain() -> None:
    router = scillm.Router()
    results = asyncio.run(router.parallel_acompletions(probe_requests(), concurrency=3))
    assert len(results) == 3
    for i, r in enumerate(results):
        meta = r["scillm_router"]
        assert meta["index"] == i
        assert meta["provider"] == "codex-agent"
        assert r["choices"][0]["message"]["content"] == "shim ok"
    schema_first = results[0]["scillm_router"]
    assert schema_first["error_type"] == "invalid_json"
    assert schema_first["json_valid"] is False
    assert schema_first["schema_mode"] == "schema_first"
    assert results[1]["scillm_router"]["error_type"] == "ok"
    assert results[2]["scillm_router"]["error_type"] == "ok"


# Fields that differ between two runs of the same request.
VARYING = {"id", "created"}
VARYING_META = {"timing_ms", "queue_ms"}


def test_each_result_is_the_line_scillm_batch_writes(tmp_path: Path) -> None:
    requests = probe_requests()
    requests[2] = {**requests[2], **requests[2].pop("kwargs")}
    requests.append("not an object")  # an invalid item gets an error result in its slot
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in requests))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "CODEX_SIDECAR_ECHO": "1", "SCILLM_LOG": "error"}
    subprocess.run(
        [str(binary("SCILLM_TEST_SCILLM", "scillm")), "batch", str(source), "-o", str(out), "--no-progress"],
        env=env,
        check=False,
        capture_output=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    results = asyncio.run(scillm.Router().parallel_acompletions(requests))
    assert len(lines) == len(results) == 4
    for line, result in zip(lines, results):
        assert list(result) == list(line), "same keys in the same order"
        assert list(result["scillm_router"]) == list(line["scillm_router"])
        for key in set(line) - VARYING - {"scillm_router"}:
            assert result[key] == line[key], key
        for key in set(line["scillm_router"]) - VARYING_META:
            assert result["scillm_router"][key] == line["scillm_router"][key], key
