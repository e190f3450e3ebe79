"""Local fake Stripe and Adyen servers for tests and ``make run`` (never for production).

``python -m tenure.payments.fakes stripe --port 12111`` / ``... adyen --port 12112``; see
docs/payments.md. Responses are built from the providers' published fixtures and schemas in
``data/`` (MIT, licences alongside).
"""
