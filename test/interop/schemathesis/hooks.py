"""schemathesis hooks for test/interop/schemathesis.test.ts (loaded through SCHEMATHESIS_HOOKS).

openapi.yaml's `{path}` parameter of /proxy/{integration}/{path} is several segments joined by "/" (x-multi-segment),
sent as they are. OpenAPI has no style for that and schemathesis percent-encodes every path parameter whole, so "/"
would reach the broker as "%2F", which it refuses on purpose (an encoded slash is ambiguous behind the gateway). This
sends the "/" literally, as clients do; each segment is still percent-encoded.
"""
from urllib.parse import quote, unquote

import schemathesis
from schemathesis.core.parameters import EncodedPath


@schemathesis.hook
def before_call(context, case, kwargs):
    value = case.path_parameters.get("path")
    if not isinstance(value, str):
        return
    # The value arrives percent-encoded whole ("rest%2Fapi%2F3"); quote(unquote(...)) gives back the same bytes.
    logical = unquote(value)
    if "/" in logical:
        case.path_parameters["path"] = EncodedPath("/".join(quote(segment, safe="") for segment in logical.split("/")))


# hypothesis names each filtered strategy by parsing its lambda's source with `ast.parse`. On CPython 3.11.7 (this
# machine's python3) that parse can fail deep in a recursion with "SystemError: AST constructor recursion depth
# mismatch", a CPython bug, and schemathesis reports the operation as a Runtime Error. The name is only a repr: fall
# back to a plain one instead of failing the case.
import hypothesis.strategies._internal.lazy as _lazy  # noqa: E402

_describe = _lazy.get_pretty_function_description


def _describe_or_plain(function):
    try:
        return _describe(function)
    except SystemError:
        return getattr(function, "__name__", "<lambda>")


_lazy.get_pretty_function_description = _describe_or_plain
