"""A batch through the OpenAI SDK across a gateway kill and restart.

argv: start BASE KEY WORKDIR  -> uploads 200 lines, creates the batch, waits until at
                                 least 20 are done, prints `BATCH <id>`
argv: finish BASE KEY BATCH_ID -> polls to `completed`, checks the output: 200 lines,
                                 every custom_id exactly once; prints `ALL OK`
"""
import json
import os
import sys
import time

from openai import OpenAI

mode, base, key = sys.argv[1:4]
client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=5, timeout=30)

if mode == "start":
    path = os.path.join(sys.argv[4], "restart_in.jsonl")
    with open(path, "w") as f:
        for i in range(200):
            f.write(json.dumps({"custom_id": f"r-{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "beta", "messages": [{"role": "user", "content": str(i)}]}}) + "\n")
    with open(path, "rb") as f:
        uploaded = client.files.create(file=f, purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    deadline = time.time() + 60
    while batch.request_counts.completed < 20:
        assert time.time() < deadline, batch
        assert batch.status == "in_progress", batch
        time.sleep(0.02)
        batch = client.batches.retrieve(batch.id)
    print("BATCH", batch.id, flush=True)
else:
    batch_id = sys.argv[4]
    deadline = time.time() + 120
    batch = client.batches.retrieve(batch_id)
    while batch.status != "completed":
        assert time.time() < deadline, batch
        assert batch.status in ("in_progress", "finalizing"), batch
        time.sleep(0.05)
        batch = client.batches.retrieve(batch_id)
    assert batch.request_counts.total == 200 and batch.request_counts.completed == 200, batch
    out = client.files.content(batch.output_file_id).text.splitlines()
    ids = [json.loads(l)["custom_id"] for l in out]
    assert len(ids) == 200, len(ids)
    assert sorted(ids) == sorted(f"r-{i}" for i in range(200)), "a custom_id is missing or repeated"
    print("ALL OK")
