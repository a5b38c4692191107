"""The official MCP Python SDK (`mcp`, PyPI) against a running Flightlog.

    python mcp_client.py MCP_URL KEY SESSION STEP

Lists the tools, calls every one of them about SESSION (STEP is its failed
step), tries an unknown session and a wrong key, and prints one line of
JSON with what came back, for the test to check.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

URL, KEY, SESSION, STEP = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def client(key):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return Client(streamable_http_client(URL, http_client=http))


def outcome(result):
    error = getattr(result, "is_error", None)
    if error is None:
        error = getattr(result, "isError", False)
    return {"error": bool(error), "text": result.content[0].text if result.content else ""}


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
        out["unknown_session"] = outcome(await c.call_tool("session_timeline", {"session_id": "no-such-session"}))
        out["bad_argument"] = outcome(await c.call_tool("find_sessions", {"sort": "sideways"}))
    try:
        async with client("not-a-key") as c:
            await c.list_tools()
        out["wrong_key"] = "accepted"
    except BaseException as e:  # the SDK raises an exception group on a 401
        out["wrong_key"] = "refused: " + type(e).__name__
    print(json.dumps(out))


asyncio.run(main())
