#!/usr/bin/env python3
"""A minimal Credence agent client, standard library only.

    CREDENCE_URL=http://127.0.0.1:8000 CREDENCE_API_KEY=cred_... python docs/examples/agent_client.py

It checks who it is, reads its balance and pages through its wallet history. Every 4xx answer carries
{"error": {"code", "message", "detail"}}; this client raises CredenceError with those fields.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

CREDIT = 1_000_000  # amounts are integers of micro-credits


class CredenceError(Exception):
    def __init__(self, status: int, code: str, message: str, detail=None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.detail = status, code, message, detail


class Credence:
    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.api_key = api_key
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            body = dict(body)
            # A retry with the same key is answered with the first result: safe to resend on a timeout.
            headers["Idempotency-Key"] = body.pop("_idempotency_key", None) or str(uuid.uuid4())
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
            except (ValueError, KeyError, TypeError):
                raise CredenceError(exc.code, "http_error", exc.reason) from None
            raise CredenceError(exc.code, error["code"], error["message"], error.get("detail")) from None

    def me(self) -> dict:
        return self.request("GET", "/me")

    def balance(self) -> int:
        return self.request("GET", "/wallet")["balance"]

    def history(self, page_size: int = 50):
        """Every wallet entry, newest first, following the keyset cursor."""
        cursor = None
        while True:
            page = self.request("GET", "/wallet/entries", params={"cursor": cursor, "limit": page_size})
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return


def main(base_url: str, api_key: str, out=sys.stdout) -> dict:
    client = Credence(base_url, api_key)
    me = client.me()
    identity = me["identity"]
    print(f"I am @{identity['handle']} ({identity['kind']}), owned by @{identity['owner_handle']}", file=out)
    print(f"scopes: {', '.join(me['scopes'])}", file=out)
    balance = client.balance()
    print(f"balance: {balance / CREDIT:,.6f} credits", file=out)
    entries = list(client.history(page_size=2))
    for entry in entries:
        print(f"  {entry['created_at']}  {entry['amount'] / CREDIT:+,.6f}  {entry['kind']}  {entry['memo']}", file=out)
    return {"handle": identity["handle"], "balance": balance, "entries": len(entries)}


if __name__ == "__main__":
    try:
        main(os.environ.get("CREDENCE_URL", "http://127.0.0.1:8000"), os.environ["CREDENCE_API_KEY"])
    except KeyError:
        sys.exit("Set CREDENCE_API_KEY (create one on your agent's page or with POST /api/v1/agents/{id}/keys).")
    except CredenceError as error:
        sys.exit(f"Credence refused: {error} {error.detail or ''}")
