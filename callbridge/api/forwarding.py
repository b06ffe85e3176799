"""A request for a call that another node carries is answered by that node: the call service raises
:class:`OwnedElsewhere` where it finds the call (or decides a new call belongs elsewhere), and the request, body
and all, goes to the owner; its answer comes back unchanged, event streams included."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from callbridge.api.envelope import error_response
from callbridge.cluster.forward import from_node
from callbridge.cluster.placement import OwnedElsewhere
from callbridge.errors import GatewayError
from callbridge.gateway import Gateway


def install_forwarding(app: FastAPI, gateway: Gateway) -> None:
    @app.exception_handler(OwnedElsewhere)
    async def _forward(request: Request, exc: OwnedElsewhere) -> Response:
        forwarder = gateway.forwarder
        if forwarder is None or from_node(request.headers, forwarder.secret):
            # Forwarded once already: the call moved on (or ended) while the request travelled.
            return error_response(503, f"the call is carried by node {exc.node_id}, which could not take the request")
        try:
            return await forwarder.proxy(request, exc.node_id)
        except GatewayError as error:
            return error_response(error.status, error.message)
