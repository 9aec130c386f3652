"""Calls the broker with atlassian-python-api, as a user's script would, and prints what the client reports as JSON.

Usage: BROKER_URL=http://127.0.0.1:PORT BROKER_TOKEN=<caller JWT> python atlassian_client.py
Each scenario prints {"name", "ok", "status", "error"}: `error` is str() of the client's HTTPError, i.e. exactly the text
the client shows its user.
"""
import json
import os

from atlassian import Confluence, Jira
from requests import HTTPError

base = os.environ["BROKER_URL"]
token = os.environ["BROKER_TOKEN"]


def attempt(name, call):
    try:
        result = call()
        return {"name": name, "ok": True, "status": 200, "result": result}
    except HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        return {"name": name, "ok": False, "status": status, "error": str(error)}


jira = Jira(url=f"{base}/proxy/jira-main", token=token, cloud=True, api_version="3")
# The client's default REST version is 2, which the test policy does not allow: the broker refuses.
jira_v2 = Jira(url=f"{base}/proxy/jira-main", token=token, cloud=True)
unknown = Jira(url=f"{base}/proxy/no-such-integration", token=token, cloud=True, api_version="3")
wiki = Confluence(url=f"{base}/proxy/wiki-main", token=token, cloud=True)

results = [
    attempt("jira myself", lambda: jira.myself().get("emailAddress")),
    attempt("jira policy denied", lambda: jira_v2.myself()),
    attempt("jira unknown integration", lambda: unknown.myself()),
    attempt("jira issue Atlassian does not have", lambda: jira.issue("OPS-999999")),
    attempt("confluence policy denied", lambda: wiki.create_space({"key": "OPS", "name": "Ops"})),
]
print(json.dumps(results))
