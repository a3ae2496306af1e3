"""People signing in to what shows CJI (#46, CJIS 5.6): the users file with argon2 password
hashes and TOTP second factors, the sign-in rules (lockout), sessions, and the access audit
events every sign-in and every look writes to ``ops.access.v1``."""
