"""The Batch API's files, lists, completion window, cancel and expiry through the official
OpenAI Python SDK.

argv: MODE BASE KEY WORKDIR
MODE files   -> files.create/list/retrieve/delete; deleting a running batch's input is a
                ConflictError; cancel ends `cancelled` with every custom_id once
MODE list    -> three batches, batches.list(limit=1) pages through all of them
MODE window  -> completion_window "1h" is a BadRequestError naming "24h"
MODE expire  -> a batch longer than the (short) window ends `expired`: finished lines in
                the output file, the rest in the error file with code batch_expired
MODE paced   -> a batch on a key with rpm 60 / tpm 1000: four lines complete (they wait
                for the key's capacity, none is refused); a fifth whose estimate exceeds
                the whole tpm is answered 400 in the error file
Prints one `ok: …` line per check and `ALL OK` at the end; any failure raises.
"""
import json
import os
import sys
import time

import openai
from openai import OpenAI

mode, base, key, workdir = sys.argv[1:5]
client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=30)


def upload(name, n, model, extra=None):
    """`n` one-message lines for `model`; line i gets `extra(i)` merged into its body."""
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        for i in range(n):
            body = {"model": model, "messages": [{"role": "user", "content": str(i)}]}
            body.update(extra(i) if extra else {})
            f.write(json.dumps({"custom_id": f"{name}-{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": body}) + "\n")
    with open(path, "rb") as f:
        return client.files.create(file=f, purpose="batch")


def create(file_id):
    return client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                 completion_window="24h")


def wait(batch_id, states, limit=120):
    deadline = time.time() + limit
    batch = client.batches.retrieve(batch_id)
    while batch.status not in states:
        assert time.time() < deadline, batch
        time.sleep(0.05)
        batch = client.batches.retrieve(batch_id)
    return batch


def lines(file_id):
    if file_id is None:
        return []
    return [json.loads(l) for l in client.files.content(file_id).text.splitlines()]


def every_custom_id_once(batch, name, n):
    out, err = lines(batch.output_file_id), lines(batch.error_file_id)
    ids = [l["custom_id"] for l in out + err]
    assert sorted(ids) == sorted(f"{name}-{i}" for i in range(n)), ids
    assert batch.request_counts.total == n, batch
    assert batch.request_counts.completed == len(out), batch
    assert batch.request_counts.failed == len(err), batch
    return out, err


if mode == "files":
    a = upload("a.jsonl", 2, "alpha")
    b = upload("b.jsonl", 3, "alpha")
    listed = [f.id for f in client.files.list(purpose="batch")]
    assert a.id in listed and b.id in listed, listed
    got = client.files.retrieve(a.id)
    assert got.id == a.id and got.purpose == "batch" and got.bytes == a.bytes, got
    deleted = client.files.delete(a.id)
    assert deleted.id == a.id and deleted.deleted is True, deleted
    try:
        client.files.retrieve(a.id)
        raise AssertionError("a deleted file is still there")
    except openai.NotFoundError:
        pass
    assert a.id not in [f.id for f in client.files.list()]
    print("ok: files list, retrieve and delete")

    slow = upload("slow.jsonl", 30, "slow")
    batch = create(slow.id)
    try:
        client.files.delete(slow.id)
        raise AssertionError("the input of a running batch was deleted")
    except openai.ConflictError as e:
        assert batch.id in str(e), str(e)
    print("ok: deleting a running batch's input is a ConflictError")

    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled"), cancelling
    done = wait(batch.id, ("cancelled",))
    assert done.cancelled_at is not None, done
    out, err = every_custom_id_once(done, "slow.jsonl", 30)
    unrun = [l for l in err if l["error"] and l["error"]["code"] == "batch_cancelled"]
    assert unrun and all(l["response"] is None for l in unrun), err[:2]
    assert all(l["response"]["status_code"] == 200 for l in out), out[:2]
    client.files.delete(slow.id)
    print("ok: a cancelled batch answers every custom_id once")

elif mode == "list":
    made = []
    for i in range(3):
        f = upload(f"list{i}.jsonl", 2, "alpha")
        made.append(create(f.id).id)
        time.sleep(1.1)  # distinct created_at seconds, so newest-first is well defined
    for b in made:
        wait(b, ("completed",))
    page = client.batches.list(limit=1)
    assert len(page.data) == 1 and page.has_more, page
    everything = [b.id for b in client.batches.list(limit=1)]
    assert len(everything) == len(set(everything)), everything
    seen = [b for b in everything if b in made]
    assert seen == list(reversed(made)), (seen, made)
    print("ok: batches.list pages newest first")

elif mode == "window":
    f = upload("window.jsonl", 1, "alpha")
    try:
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                              completion_window="1h")
        raise AssertionError("a 1h window was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and '"24h"' in str(e), str(e)
    print("ok: an unsupported completion_window is a BadRequestError")

elif mode == "expire":
    f = upload("expire.jsonl", 20, "slow")
    batch = create(f.id)
    assert batch.expires_at is not None and batch.expires_at >= batch.created_at, batch
    done = wait(batch.id, ("expired", "completed", "failed", "cancelled"))
    assert done.status == "expired", done
    assert done.expired_at is not None, done
    out, err = every_custom_id_once(done, "expire.jsonl", 20)
    expired = [l for l in err if l["error"] and l["error"]["code"] == "batch_expired"]
    assert expired, err
    assert all(l["response"] is None for l in expired), expired[:1]
    assert "completion window expired" in expired[0]["error"]["message"], expired[0]
    print(f"ok: expired with {len(out)} finished and {len(expired)} batch_expired lines")

elif mode == "paced":
    f = upload("paced.jsonl", 5, "paced", lambda i: {"max_tokens": 5000} if i == 4 else {})
    done = wait(create(f.id).id, ("completed", "failed", "cancelled", "expired"))
    assert done.status == "completed", done
    out, err = every_custom_id_once(done, "paced.jsonl", 5)
    assert len(out) == 4, out
    assert [l["custom_id"] for l in err] == ["paced.jsonl-4"], err
    assert err[0]["response"]["status_code"] == 400, err
    assert "tpm" in err[0]["response"]["body"]["error"]["message"], err
    print("ok: a batch on an rpm-limited key waits and completes")

else:
    raise SystemExit(f"unknown mode {mode}")
print("ALL OK")
