"""An OpenID Connect provider in the style of Estonia's state authentication service
(TARA), with a Web eID-style certificate challenge as its login (docs/spec/oidc.md).

* :mod:`.webeid`   the certificate challenge: what is signed and how it is checked;
* :mod:`.store`    relying parties, challenges and authorization codes in the identity store;
* :mod:`.provider` the protocol (RFC 6749 §4.1, RFC 7636, OpenID Connect Core §3.1) and
  the tokens, signed with joserfc (Authlib's JOSE);
* :mod:`.home`     the provider's settings and signing key in the instance;
* :mod:`.app`      the ASGI app.
"""
