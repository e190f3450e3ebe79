"""What the API answers: one msgspec struct per resource, and the one function that maps a
domain object onto it.

Every route returns one of these structs, so ``/openapi.json`` carries the schema of every
response. The mapping from domain records (``Sub``, ORM rows, the billing dicts) lives next to
the struct it fills, one function per resource; nothing below ``api`` imports this package.
"""
