"""Typed dependencies: each route names the services it uses, and none reaches into the gateway as a whole."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from callbridge.calls.feed import CallFeed
from callbridge.calls.permissions import Permissions
from callbridge.calls.service import CallService
from callbridge.cluster.forward import Forwarder
from callbridge.cluster.news_routing import NewsRouting
from callbridge.config import Settings
from callbridge.connectors.registry import Connectors
from callbridge.errors import InvalidRequest
from callbridge.events.outbox_admin import OutboxAdmin
from callbridge.file_library import FileLibrary
from callbridge.gateway import Gateway
from callbridge.media.ice import IceSettings
from callbridge.sessions import SessionService


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _calls(request: Request) -> CallService:
    return gateway_of(request).calls


def _sessions(request: Request) -> SessionService:
    return gateway_of(request).sessions


def _permissions(request: Request) -> Permissions:
    return gateway_of(request).permissions


def _feed(request: Request) -> CallFeed:
    return gateway_of(request).feed


def _connectors(request: Request) -> Connectors:
    return gateway_of(request).connectors


def _news_routing(request: Request) -> NewsRouting:
    return gateway_of(request).news


def _forwarder(request: Request) -> Forwarder | None:
    return gateway_of(request).forwarder


def _settings(request: Request) -> Settings:
    return gateway_of(request).settings


def _ice(request: Request) -> IceSettings:
    return gateway_of(request).ice


def _outbox_admin(request: Request) -> OutboxAdmin:
    return gateway_of(request).outbox_admin


def _files(request: Request) -> FileLibrary:
    return gateway_of(request).files


def _call_token_key(request: Request) -> str:
    return gateway_of(request).call_token_key


def _admin_token(request: Request) -> str:
    return gateway_of(request).admin_token


Calls = Annotated[CallService, Depends(_calls)]
Sessions = Annotated[SessionService, Depends(_sessions)]
PermissionsDep = Annotated[Permissions, Depends(_permissions)]
Feed = Annotated[CallFeed, Depends(_feed)]
ConnectorsDep = Annotated[Connectors, Depends(_connectors)]
SettingsDep = Annotated[Settings, Depends(_settings)]
NewsRoutingDep = Annotated[NewsRouting, Depends(_news_routing)]
ForwarderDep = Annotated[Forwarder | None, Depends(_forwarder)]  # None on a lone gateway
Ice = Annotated[IceSettings, Depends(_ice)]
OutboxAdminDep = Annotated[OutboxAdmin, Depends(_outbox_admin)]
FilesDep = Annotated[FileLibrary, Depends(_files)]
CallTokenKey = Annotated[str, Depends(_call_token_key)]
AdminToken = Annotated[str, Depends(_admin_token)]
GatewayDep = Annotated[Gateway, Depends(gateway_of)]  # for /health only, which reports on the whole


def query_param(request: Request, name: str) -> str | None:
    """Query parameters match case-insensitively too (?CallID= and ?callid=), as JSON fields do."""
    wanted = name.lower()
    return next((v for k, v in request.query_params.items() if k.lower() == wanted), None)


def _call_id_query(
    request: Request, call_id: str | None = Query(None, alias="CallID", description="a call, live or ended")
) -> str | None:
    call_id = call_id or query_param(request, "CallID")
    if call_id is not None and "\x00" in call_id:
        raise InvalidRequest("invalid CallID: must not contain NUL characters")
    return call_id


def _required_call_id_query(call_id: Annotated[str | None, Depends(_call_id_query)]) -> str:
    if not call_id:
        raise InvalidRequest("missing CallID in query")
    return call_id


def _phone_query(request: Request, phone: str | None = Query(None, alias="Phone")) -> str:
    phone = phone or query_param(request, "Phone")
    if not phone:
        raise InvalidRequest("missing Phone in query")
    return phone


CallIDQuery = Annotated[str | None, Depends(_call_id_query)]
RequiredCallIDQuery = Annotated[str, Depends(_required_call_id_query)]
PhoneQuery = Annotated[str, Depends(_phone_query)]
