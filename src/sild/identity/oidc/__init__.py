"""An OpenID Connect provider in the style of Estonia's state authentication service
(TARA), with a Web eID-style certificate challenge and passkeys as its logins
(docs/spec/oidc.md, docs/spec/identity.md §7-§8).

* :mod:`.webeid`   the certificate challenge: what is signed and how it is checked;
* :mod:`.store`    relying parties, challenges and authorization codes in the identity store;
* :mod:`.passkeys` the WebAuthn ceremonies (py_webauthn), pure;
* :mod:`.passkey_store` passkeys, provider sessions and registration challenges;
* :mod:`.provider` the protocol (RFC 6749 §4.1, RFC 7636, OpenID Connect Core §3.1) and
  the tokens, signed with joserfc (Authlib's JOSE);
* :mod:`.home`     the provider's settings and signing key in the instance;
* :mod:`.app`      the ASGI app, its Jinja2 pages (``templates/``) and script (``static/``).
"""
