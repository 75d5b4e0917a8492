"""The API's security schemes, declared once so /openapi.json states who may call each operation.

Every scheme is optional at the FastAPI level (auto_error=False): the routes answer a missing or wrong
credential themselves, with an ErrorBody (sync_server.auth, app._require_key), like every other error.
"""

from __future__ import annotations

from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

officer_bearer = HTTPBearer(
    scheme_name="officerBearer", auto_error=False,
    description="An officer's access token from POST /v1/auth/token (opaque; refresh with /v1/auth/refresh).",
)
workstation_credential = APIKeyHeader(
    name="X-Workstation-Credential", scheme_name="workstationCredential", auto_error=False,
    description="The credential the workstation received at its enrolment (TokenResponse.workstation_credential).",
)
gateway_key = APIKeyHeader(
    name="X-Gateway-Key", scheme_name="gatewayKey", auto_error=False,
    description="A vendor gateway's own key (sync-server gateway add NAME prints it, once).",
)
admin_key = APIKeyHeader(
    name="X-Admin-Key", scheme_name="adminKey", auto_error=False,
    description="The administrator key (sync-server admin-key prints a new one; the server keeps its hash).",
)


def authorization_header(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """Back to the header's text, the form sync_server.auth.authenticate checks."""
    return None if credentials is None else f"{credentials.scheme} {credentials.credentials}"
