"""The Python MCP SDK (PyPI `mcp`) as a second, independent client of the broker's /mcp endpoint.

Env: BROKER_URL, BROKER_TOKEN (a caller JWT). Prints one JSON document: the protocol version the two SDKs agreed
on, the tools listed, and what a read tool, a write tool and a refused call returned.
"""
import asyncio
import json
import os

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def text_of(result):
    return "\n".join(part.text for part in result.content if getattr(part, "type", None) == "text")


async def main():
    headers = {"Authorization": f"Bearer {os.environ['BROKER_TOKEN']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(os.environ["BROKER_URL"] + "/mcp", http_client=http)
        async with Client(transport) as client:
            tools = await client.list_tools()
            search = await client.call_tool("jira_search_issues", {"jql": "project = PY", "maxResults": 1})
            created = await client.call_tool("jira_create_issue", {"projectKey": "PY", "summary": "from python"})
            missing = await client.call_tool("jira_get_issue", {"issueKey": "NOPE-1"})
            out = {
                "tools": sorted(tool.name for tool in tools.tools),
                "annotations": {tool.name: tool.annotations.model_dump(exclude_none=True) for tool in tools.tools if tool.annotations},
                "search": {"isError": bool(search.is_error), "text": text_of(search), "structured": search.structured_content},
                "created": {"isError": bool(created.is_error), "structured": created.structured_content},
                "missing": {"isError": bool(missing.is_error), "text": text_of(missing)},
            }
    print(json.dumps(out))


asyncio.run(main())
