"""The official OpenAI Python SDK against `scillm serve`.

argv: BASE FULL_KEY NARROW_KEY WORKDIR
Prints one `ok: …` line per check and `ALL OK` at the end; any failure raises.
"""
import json
import os
import sys
import time

import openai
from openai import OpenAI

base, full_key, narrow_key, workdir = sys.argv[1:5]
client = OpenAI(base_url=base + "/v1", api_key=full_key, max_retries=0, timeout=30)
MSG = [{"role": "user", "content": "hello"}]

# Chat with the routing headers and the scillm_router record.
raw = client.chat.completions.with_raw_response.create(model="alpha", messages=MSG)
completion = raw.parse()
assert completion.choices[0].message.content == "from alpha", completion
assert raw.headers["x-scillm-deployment"].startswith("alpha#"), dict(raw.headers)
assert int(raw.headers["x-scillm-attempts"]) == 1, dict(raw.headers)
assert float(raw.headers["x-scillm-overhead-ms"]) >= 0
assert raw.headers["x-request-id"]
record = json.loads(raw.http_response.text)["scillm_router"]
assert record["error_type"] == "ok" and record["deployment"].startswith("alpha#"), record
print("ok: chat with record and x-scillm headers")

# Stream.
parts = []
for chunk in client.chat.completions.create(model="alpha", messages=MSG, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
assert "".join(parts) == "from alpha", parts
print("ok: stream")

# Model fallback after the first deployment's 500s.
raw = client.chat.completions.with_raw_response.create(model="broken", messages=MSG)
assert raw.parse().choices[0].message.content == "from alpha"
assert raw.headers["x-scillm-deployment"].startswith("alpha#"), dict(raw.headers)
assert int(raw.headers["x-scillm-attempts"]) >= 2, dict(raw.headers)
assert json.loads(raw.http_response.text)["scillm_router"]["model_fallback"] == "alpha"
print("ok: fallback after 500s")

ids = sorted(m.id for m in client.models.list())
assert ids == ["alpha", "beta", "broken", "limited"], ids
print("ok: models.list")

try:
    client.chat.completions.create(model="gpt-unknown", messages=MSG)
    raise AssertionError("unknown model answered")
except openai.NotFoundError as e:
    assert "alpha, beta, broken, limited" in str(e), str(e)
print("ok: unknown model is NotFoundError listing the names")

try:
    OpenAI(base_url=base + "/v1", api_key="sk-wrong", max_retries=0).chat.completions.create(
        model="alpha", messages=MSG)
    raise AssertionError("wrong key answered")
except openai.AuthenticationError:
    pass
print("ok: wrong key is AuthenticationError")

narrow = OpenAI(base_url=base + "/v1", api_key=narrow_key, max_retries=0)
assert narrow.chat.completions.create(model="alpha", messages=MSG).choices[0].message.content
try:
    narrow.chat.completions.create(model="beta", messages=MSG)
    raise AssertionError("narrow key used beta")
except openai.PermissionDeniedError as e:
    assert e.status_code == 403
print("ok: key not allowed the model is PermissionDeniedError")

try:
    client.chat.completions.create(model="limited", messages=MSG)
    raise AssertionError("limited answered")
except openai.RateLimitError as e:
    assert e.response.headers["retry-after"] == "7", dict(e.response.headers)
print("ok: every target limited is RateLimitError with Retry-After")

# The Batch API: 200 lines through files, batches, polling and the output file.
path = os.path.join(workdir, "batch_in.jsonl")
with open(path, "w") as f:
    for i in range(200):
        f.write(json.dumps({"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
                            "body": {"model": "beta", "messages": [{"role": "user", "content": f"line {i}"}]}}) + "\n")
with open(path, "rb") as f:
    uploaded = client.files.create(file=f, purpose="batch")
batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                              completion_window="24h")
deadline = time.time() + 120
while batch.status not in ("completed", "failed", "cancelled"):
    assert time.time() < deadline, batch
    time.sleep(0.05)
    batch = client.batches.retrieve(batch.id)
assert batch.status == "completed", batch
assert batch.request_counts.completed == 200 and batch.request_counts.failed == 0, batch
out = client.files.content(batch.output_file_id).text.splitlines()
assert len(out) == 200, len(out)
got = [json.loads(l)["custom_id"] for l in out]
assert sorted(got) == sorted(f"req-{i}" for i in range(200)), got[:5]
first = json.loads(out[0])
assert first["response"]["status_code"] == 200
assert first["response"]["body"]["choices"][0]["message"]["content"] == "from beta"
print("ok: batch of 200 through the SDK")
print("ALL OK")
