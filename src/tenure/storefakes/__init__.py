"""Test doubles of the stores, for tests and for trying Tenure with ``make run``.

- :mod:`.apple`: a test certificate chain shaped like Apple's (root, intermediate with Apple's
  intermediate OID, leaf with Apple's signing OID), JWS signing with ``x5c``, builders of
  transactions, renewal info and notifications, and a fake App Store Server API.
- :mod:`.google`: a fake Play Developer API (OAuth token endpoint, ``subscriptionsv2.get``,
  acknowledge) with the JWKS that signs Pub/Sub push tokens, and push builders.
- :mod:`.samples`: the documented sample notifications and ``tenure stores samples``.

Never trust their keys outside a test: they are generated here. This package sits outside
the module layers (like the CLI) because it plays both stores for every layer.
"""
