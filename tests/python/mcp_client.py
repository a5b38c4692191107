"""The official MCP Python SDK (`mcp`, PyPI) against a running Flightlog.

    python mcp_client.py MCP_URL KEY SESSION STEP AGENT_KEY

Lists the tools, calls every one of them about SESSION (STEP is its failed
step), tries an unknown session and a wrong key, and prints one line of
JSON with what came back, for the test to check. With AGENT_KEY (an
ingest key) it asks the guard before an email, sends it (posts the step),
and asks again; and tries each key on the other's tools.
"""

import asyncio
import json
import sys
from datetime import datetime, timezone

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

URL, KEY, SESSION, STEP, AGENT_KEY = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
EMAIL = {"to": "ana@example.com", "subject": "Your refund"}


def client(key):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return Client(streamable_http_client(URL, http_client=http))


def outcome(result):
    error = getattr(result, "is_error", None)
    if error is None:
        error = getattr(result, "isError", False)
    return {"error": bool(error), "text": result.content[0].text if result.content else ""}


async def refused_or(call):
    try:
        return outcome(await call)
    except BaseException as e:  # a JSON-RPC error (a scope missing)
        return "refused: " + str(e)


async def main():
    out = {}
    async with client(KEY) as c:
        out["tools"] = sorted(t.name for t in (await c.list_tools()).tools)
        calls = {
            "find_sessions": {"flagged": True, "sort": "steps"},
            "session_timeline": {"session_id": SESSION, "limit": 5},
            "explain_decision": {"session_id": SESSION, "step": STEP},
            "similar_failures": {"session_id": SESSION, "step": STEP},
            "cost_report": {"group_by": "model", "from": "2020-01-01T00:00:00Z"},
            "verify_session": {"session_id": SESSION},
        }
        for name, args in calls.items():
            out[name] = outcome(await c.call_tool(name, args))
        # Every demo step is tagged prod: a filter by tag narrows as the API's does.
        out["cost_report_other_tag"] = outcome(await c.call_tool("cost_report", {"group_by": "model", "from": "2020-01-01T00:00:00Z", "tags": "staging,dev"}))
        out["cost_report_prod"] = outcome(await c.call_tool("cost_report", {"group_by": "model", "from": "2020-01-01T00:00:00Z", "tags": "dev,prod"}))
        out["unknown_session"] = outcome(await c.call_tool("session_timeline", {"session_id": "no-such-session"}))
        out["bad_argument"] = outcome(await c.call_tool("find_sessions", {"sort": "sideways"}))
        out["timeline_limit_zero"] = outcome(await c.call_tool("session_timeline", {"session_id": SESSION, "limit": 0}))
        out["page_one"] = outcome(await c.call_tool("find_sessions", {"sort": "steps", "limit": 2}))
        cursor = json.loads(out["page_one"]["text"])["next_cursor"]
        out["page_two"] = outcome(await c.call_tool("find_sessions", {"sort": "steps", "limit": 2, "cursor": cursor}))
        out["unknown_argument"] = await refused_or(c.call_tool("find_sessions", {"sort": "steps", "bogus_arg": 1}))
        out["similar_nothing_asked"] = outcome(await c.call_tool("similar_failures", {}))
    ask = {"session_id": "mcp-guarded", "agent": "mailer", "tool": "send_email", "params": EMAIL}
    async with client(AGENT_KEY) as c:
        out["guard_before"] = outcome(await c.call_tool("guard", ask))
        step = {"session_id": "mcp-guarded", "step": 0, "timestamp": datetime.now(timezone.utc).isoformat(), "agent": {"name": "mailer"},
                "tool_execution": {"name": "send_email", "params": EMAIL, "result": "sent", "status": "ok"}}
        posted = await create_mcp_http_client(headers={"Authorization": f"Bearer {AGENT_KEY}"}).post(
            URL.removesuffix("/mcp") + "/v1/steps", json=[step])
        out["posted"] = posted.status_code
        out["guard_after"] = outcome(await c.call_tool("guard", {**ask, "session_id": "mcp-other"}))
        out["guard_bad"] = await refused_or(c.call_tool("guard", {**ask, "params": {"to": "x" * 1_100_000}}))
        out["guard_big_number"] = await refused_or(c.call_tool("guard", {**ask, "params": {"account": 12345678901234567890123}}))
        out["agent_reads"] = await refused_or(c.call_tool("find_sessions", {}))
    async with client(KEY) as c:
        out["reader_guards"] = await refused_or(c.call_tool("guard", ask))
    try:
        async with client("not-a-key") as c:
            await c.list_tools()
        out["wrong_key"] = "accepted"
    except BaseException as e:  # the SDK raises an exception group on a 401
        out["wrong_key"] = "refused: " + type(e).__name__
    print(json.dumps(out))


asyncio.run(main())
