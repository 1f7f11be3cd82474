"""Bearer tokens: JWTs signed with HS256, carrying a role and a subject."""

from datetime import UTC, datetime, timedelta
from typing import Final

import jwt

from domain.identity import Role

ALGORITHM: Final = "HS256"
ROLES: Final = tuple(role.value for role in Role)
DEFAULT_LIFETIME: Final = timedelta(days=30)


class TokenIssuer:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def issue(self, role: str, subject: str, lifetime: timedelta = DEFAULT_LIFETIME) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not subject:
            raise ValueError("subject must not be empty")
        now = datetime.now(UTC)
        claims = {"sub": subject, "role": role, "iat": now, "exp": now + lifetime}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)
