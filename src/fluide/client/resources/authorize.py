"""``client.authorize``: the developer session (DESIGN §3.3)."""

from __future__ import annotations

from typing_extensions import Unpack

from fluide.client._call import RequestOptions, model, nothing
from fluide.client._resource import ModeT, Resource, Spec, route
from fluide.client.models import AuthContext, Credential, SecretRotation


class Authorize(Resource[ModeT]):
    @route("GET", "/api/v1/authorize/current")
    def current(self, **options: Unpack[RequestOptions]) -> Spec[Credential]:
        """The credential behind the token (never its secret)."""
        return Spec(model(Credential), options=options)

    @route("POST", "/api/v1/authorize/rotate-secret")
    def rotate_secret(
        self, *, grace_seconds: int = 0, **options: Unpack[RequestOptions]
    ) -> Spec[SecretRotation]:
        """Issue a new secret (shown once: store it) and use it from now on. With grace 0 the
        old secret and every token minted with it stop at once, so the cached token is
        dropped too; with a grace the old secret keeps working until
        ``previous_secret_expires_at``. Needs a token that carries every scope of its
        credential. Never retried: a repeat would rotate again."""
        auth = self._client.auth

        def switch(rotation: SecretRotation) -> None:
            auth.set_secret(rotation.api_secret, drop_token=grace_seconds == 0)

        return Spec(
            model(SecretRotation),
            json={"graceSeconds": grace_seconds},
            options=options,
            after=switch,
        )

    @route("POST", "/api/v1/authorize/revoke")
    def revoke(self, **options: Unpack[RequestOptions]) -> Spec[None]:
        """Revoke the cached token (sign-out); nothing is sent when there is none. The next
        call exchanges a new one."""
        return Spec(nothing, options=options, revoke=True)

    @route("GET", "/api/v1/auth-context/{jti}")
    def auth_context(
        self, jti: str | None = None, **options: Unpack[RequestOptions]
    ) -> Spec[AuthContext]:
        """The context of one of this credential's tokens (the current one by default):
        scopes, times and status (active, revoked, expired)."""
        if jti is None:
            return Spec(model(AuthContext), options=options, current_jti=True)
        return Spec(model(AuthContext), path={"jti": jti}, options=options)
