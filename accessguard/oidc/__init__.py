"""OpenID Connect: tokens from an external provider (e.g. Pro Santé Connect) decide the subject.

``jwt_bearer`` validates tokens (RFC 6750, RFC 7519), ``discovery`` and
``provider`` fetch and cache the provider's metadata and keys, ``mapping``
turns claims into a Subject and AuthnState, ``login`` is the browser login
(authorization code + PKCE) with the step-up round trip.
"""
