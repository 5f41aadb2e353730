"""The gateway: the guard every product route passes (DESIGN §3.5)."""

from fluide.gateway.guard import CurrentPrincipal, guarded_router, require_scope

__all__ = ["CurrentPrincipal", "guarded_router", "require_scope"]
