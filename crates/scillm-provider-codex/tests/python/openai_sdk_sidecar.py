"""The codex sidecar through the official OpenAI Python SDK.

Usage: openai_sdk_sidecar.py ECHO_BASE NOAUTH_BASE MAX_BODY_BYTES

ECHO_BASE is a sidecar in echo mode, NOAUTH_BASE one without Codex credentials; both
are bases without /v1. Prints one "ok: …" line per check and "ALL OK" at the end;
any failed check raises (non-zero exit).
"""

import sys

import openai
from openai import OpenAI

PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def client(base):
    return OpenAI(base_url=base + "/v1", api_key="sk-not-checked", max_retries=0, timeout=30)


def post_raw(c, content):
    """POST raw bytes to /chat/completions through the SDK's own request path."""
    headers = {"Content-Type": "application/json"}
    try:
        return c.post("/chat/completions", cast_to=object, content=content,
                      options={"headers": headers})
    except TypeError:  # older SDKs take the raw body only through options
        return c.post("/chat/completions", cast_to=object,
                      options={"headers": headers, "content": content})


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError(f"{name} failed: {detail}")
    print(f"ok: {name}", flush=True)


def main():
    echo_base, noauth_base, max_body = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(f"openai {openai.__version__}", flush=True)
    c = client(echo_base)

    models = c.models.list()
    ids = [m.id for m in models.data]
    check("models.list", "gpt-5" in ids, ids)

    r = c.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    check("string content", r.choices[0].message.content == "shim ok", r)
    check("model echoed", r.model == "gpt-5", r.model)

    r = c.chat.completions.create(
        model="codex-agent/gpt-5",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is in this image?"},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        ]}],
    )
    check("vision content", r.choices[0].message.content == "shim ok", r)

    stream = c.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join((ch.choices[0].delta.content or "") for ch in stream if ch.choices)
    check("stream=True assembles", text == "shim ok", repr(text))

    try:
        post_raw(c, b'{"model": "gpt-5", "messages": [')
        check("malformed JSON raises", False, "no error")
    except openai.BadRequestError as e:
        check("malformed JSON is BadRequestError", e.status_code == 400, e)
        check("error body has a message", "JSON" in str(e.message), e.message)

    try:
        c.chat.completions.create(model="gpt-5", messages="not a list")
        check("wrong types raise", False, "no error")
    except openai.BadRequestError as e:
        check("wrong types are BadRequestError", e.status_code == 400, e)

    try:
        c.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "x" * (max_body + 1)}]
        )
        check("oversized body raises", False, "no error")
    except openai.APIStatusError as e:
        check("oversized body is 413", e.status_code == 413, e)
        body = e.body if isinstance(e.body, dict) else {}
        check("413 has an OpenAI body", "message" in body, e.body)

    n = client(noauth_base)
    try:
        n.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
        check("missing credentials raise", False, "no error")
    except openai.AuthenticationError as e:
        msg = str(e.message)
        check("missing credentials are AuthenticationError", e.status_code == 401, e)
        for needle in ("~/.codex/auth.json", "CODEX_AUTH_PATH", "CODEX_SIDECAR_ECHO=1"):
            check(f"guidance mentions {needle}", needle in msg, msg)

    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
