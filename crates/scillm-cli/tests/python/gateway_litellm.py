"""LiteLLM as a client of `scillm serve`: argv BASE KEY. Prints `ALL OK`."""
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm

base, key = sys.argv[1:3]
MSG = [{"role": "user", "content": "hello"}]
r = litellm.completion(model="openai/alpha", api_base=base + "/v1", api_key=key, messages=MSG)
assert r.choices[0].message.content == "from alpha", r
print("ok: litellm.completion")
parts = []
for chunk in litellm.completion(model="openai/alpha", api_base=base + "/v1", api_key=key,
                                messages=MSG, stream=True):
    parts.append(chunk.choices[0].delta.content or "")
assert "".join(parts) == "from alpha", parts
print("ok: litellm stream")
try:
    litellm.completion(model="openai/nope", api_base=base + "/v1", api_key=key, messages=MSG,
                       num_retries=0)
    raise AssertionError("unknown model answered")
except litellm.NotFoundError:
    pass
print("ok: litellm NotFoundError")
print("ALL OK")
